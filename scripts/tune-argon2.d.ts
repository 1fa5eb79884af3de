/** Types of scripts/tune-argon2.js (plain JavaScript: it runs at install, before anything is compiled). */
export declare function simdLevel(cpuFlags: Set<string>): { level: 'avx2' | 'avx512f'; cflags: string } | undefined;
export declare function cpuFlags(): Set<string>;
