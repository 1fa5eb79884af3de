import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cpuFlags } from '../crypto/cpu-flags.ts';

/**
 * `npm install` builds argon2 for this CPU's AVX2 or AVX-512 (scripts/tune-argon2.js). The
 * same node_modules on a CPU without them would die of an illegal instruction at the first
 * sign-in; refuse to start instead, and say how to fix it.
 */
export function checkArgon2Build(): void {
  const addonDir = path.dirname(createRequire(import.meta.url).resolve('argon2/package.json'));
  const marker = path.join(addonDir, 'build/latchkey-simd.json');
  if (!existsSync(marker)) return;
  const { level } = JSON.parse(readFileSync(marker, 'utf8')) as { level: string };
  const missing = missingInstructions(level, cpuFlags());
  if (missing.length) {
    throw new Error(`argon2 was built for a CPU with ${missing.join(' and ')}, which this one lacks (node_modules copied from another machine?): run \`npm rebuild argon2\` here`);
  }
}

/** Pure: the instructions a build for `level` needs that a CPU with `flags` lacks. */
export function missingInstructions(level: string, flags: Set<string>): string[] {
  return ['avx2', ...(level === 'avx512f' ? ['avx512f'] : [])].filter((f) => !flags.has(f));
}
