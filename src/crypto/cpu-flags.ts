import { readFileSync } from 'node:fs';

/**
 * This CPU's feature flags (avx2, avx512f, …) from /proc/cpuinfo; empty off Linux x64. The
 * install-time twin is in scripts/tune-argon2.js, which runs before any of src/ is built and so
 * keeps its own copy: src/ does not import from scripts/ (docs/architecture.md, layers).
 */
export function cpuFlags(): Set<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return new Set();
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}
