#!/usr/bin/env node
// Makes sure the argon2 addon is compiled from source on the machine it is installed on (its
// prebuilt linux-x64 binary crashed on load on our machines; node-gyp-build prefers build/ over
// prebuilds/), and rebuilds it for the vector instructions of the CPU it is installed on. The argon2 package compiles its optimised core
// with SSE2 only; the same C code built with AVX2 or AVX-512 verifies a password at the same
// parameters (argon2id, m=19456 KiB, t=2, p=1) in about half the CPU time, and reads and
// writes the same hashes. Nothing changes in what a hash costs an attacker.
//
// Run by `npm install` (postinstall). It records what it built for in
// node_modules/argon2/build/latchkey-simd.json, which src/accounts/argon2-build.ts checks at
// start-up: a node_modules copied to a machine without those instructions is refused with a
// clear message instead of crashing on the first sign-in. LATCHKEY_ARGON2_SIMD=off skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addonDir = path.join(root, 'node_modules/argon2');
const marker = path.join(addonDir, 'build/latchkey-simd.json');

/** The widest instruction set argon2's optimised core (opt.c) can use on this CPU, if any. */
export function simdLevel(cpuFlags) {
  if (cpuFlags.has('avx512f') && cpuFlags.has('avx2')) return { level: 'avx512f', cflags: '-mavx2 -mavx512f' };
  if (cpuFlags.has('avx2')) return { level: 'avx2', cflags: '-mavx2' };
  return undefined;
}

// Twin of src/crypto/cpu-flags.ts (this runs at install, before src/ is built).
export function cpuFlags() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return new Set();
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * Compiles argon2 from source with node-gyp, as its install script does (`ZERO_AR_DATE=1
 * node-gyp-build`, which always builds when told to) — but not through npm with
 * npm_config_build_from_source, which npm 11 answers with 'Unknown env config' warnings. The
 * node-gyp is npm's own (beside npm_execpath under `npm install`), else the one on PATH.
 */
function compileArgon2(extraEnv = {}) {
  const npmCli = process.env.npm_execpath;
  const bundled = npmCli ? path.join(path.dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js') : undefined;
  const [command, args] = bundled && existsSync(bundled) ? [process.execPath, [bundled, 'rebuild']] : ['node-gyp', ['rebuild']];
  // Quiet unless it fails: the compiler's lines would bury what `npm install` has to say.
  const result = spawnSync(command, args, { cwd: addonDir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ZERO_AR_DATE: '1', ...extraEnv } });
  if (result.status !== 0) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? `${result.error.message}\n` : ''}`);
  return result;
}

function main() {
  if (!existsSync(addonDir)) return;
  const target = process.env.LATCHKEY_ARGON2_SIMD === 'off' ? undefined : simdLevel(cpuFlags());
  if (!target) {
    // No tuned build: argon2's own install script kept its prebuilt binary if that loaded in its
    // test; compile it from source anyway.
    if (existsSync(path.join(addonDir, 'build/Release/argon2.node'))) return;
    console.log('latchkey: compiling argon2 from source');
    process.exit(compileArgon2().status ?? 1);
  }
  if (existsSync(marker)) {
    try {
      if (JSON.parse(readFileSync(marker, 'utf8')).level === target.level) return;
    } catch {
      // rebuild below
    }
  }
  console.log(`latchkey: building argon2 for ${target.level} (CFLAGS=${target.cflags})`);
  const result = compileArgon2({ CFLAGS: `${process.env.CFLAGS ?? ''} ${target.cflags}`.trim() });
  if (result.status !== 0) {
    // The SSE2 build from `npm install` is still in place only if the rebuild did not get far:
    // rebuild once more without the flags so argon2 is never left missing.
    console.warn('latchkey: the tuned argon2 build failed; building it the default way');
    const fallback = compileArgon2();
    process.exit(fallback.status ?? 1);
  }
  writeFileSync(marker, `${JSON.stringify({ level: target.level, cflags: target.cflags })}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
