/** Types of scripts/build.js (plain JavaScript so that it runs before anything is compiled). */
export declare const repoRoot: string;
export declare const distDir: string;
export declare function sourceHash(): string;
export declare function isBuilt(hash?: string): boolean;
export declare function build(options?: { quiet?: boolean }): Promise<void>;
export declare function ensureBuilt(options?: { quiet?: boolean }): Promise<boolean>;
export declare function ensureTemplate(): Promise<void>;
