/**
 * Compiles src/**\/*.ts to plain JavaScript in dist/ (same layout: dist/cli/main.js, so paths
 * such as `../../views` and `../../prisma/migrations` resolve from dist as from src), so the
 * server runs without a TypeScript loader at runtime. One output file per source file, imports
 * rewritten from `.ts` to `.js`, packages left to node_modules. esbuild (a dependency of tsx,
 * so always installed) does it in a fraction of a second; type-checking stays `tsc --noEmit`.
 *
 * dist/build-info.json records a hash of everything the output depends on (every file under
 * src, this script, tsconfig.json, esbuild's version). `ensureBuilt()` rebuilds when that hash
 * no longer matches, so `npm start`, the `latchkey` command and the tests never run a stale
 * dist/. A build is written beside dist/ and swapped in with renames, so a crash or a
 * concurrent build never leaves a half-written dist/.
 *
 * Run as a script it also makes the template a fresh embedded database is copied from, once per
 * installed PGlite version (src/storage/pglite-template.ts).
 *
 *   node scripts/build.js              build now
 *   node scripts/build.js --if-stale   build only if dist/ is missing or out of date
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = path.join(repoRoot, 'dist');
const srcDir = path.join(repoRoot, 'src');
const infoFile = 'build-info.json';
const require = createRequire(import.meta.url);

/** Every file under src/ (sorted), relative to src/. */
function sourceFiles(dir = srcDir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? sourceFiles(full) : [full];
    })
    .sort();
}

/** The hash of everything dist/ is made from. */
export function sourceHash() {
  const hash = createHash('sha256');
  const add = (name, content) => hash.update(`${name}\0${content.length}\0`).update(content);
  for (const file of sourceFiles()) add(path.relative(repoRoot, file), readFileSync(file));
  add('scripts/build.js', readFileSync(fileURLToPath(import.meta.url)));
  add('tsconfig.json', readFileSync(path.join(repoRoot, 'tsconfig.json')));
  add('esbuild', JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')).version);
  return hash.digest('hex');
}

export function isBuilt(hash = sourceHash()) {
  try {
    return JSON.parse(readFileSync(path.join(distDir, infoFile), 'utf8')).sourceHash === hash;
  } catch {
    return false;
  }
}

/** Compiles src/ into a fresh dist/. */
export async function build({ quiet = false } = {}) {
  const started = performance.now();
  const hash = sourceHash();
  const esbuild = await import('esbuild');
  const entryPoints = sourceFiles().filter((file) => /\.(ts|mts)$/.test(file) && !file.endsWith('.d.ts'));
  const staging = `${distDir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    await esbuild.build({
      entryPoints,
      outdir: staging,
      outbase: srcDir,
      // "bundle" only so that the plugin below sees every import: each file stays its own module.
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22.12',
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'warning',
      plugins: [
        {
          name: 'keep-modules-separate',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (args.kind === 'entry-point') return undefined;
              // Our own modules: `./x.ts` becomes `./x.js`, loaded from dist at runtime.
              if (args.path.startsWith('./') || args.path.startsWith('../')) return { path: args.path.replace(/\.(m?)ts$/, '.$1js'), external: true };
              return { path: args.path, external: true };
            });
          },
        },
      ],
    });
    writeFileSync(path.join(staging, infoFile), `${JSON.stringify({ sourceHash: hash, builtAt: new Date().toISOString() }, null, 2)}\n`);
    // Swap in: dist → dist.old-<pid>, staging → dist. A concurrent builder that got there first
    // produced the same files from the same sources; then ours is simply dropped.
    const old = `${distDir}.old-${process.pid}`;
    try {
      renameSync(distDir, old);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    try {
      renameSync(staging, distDir);
    } catch (error) {
      if (!isBuilt(hash)) throw error;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!quiet) console.error(`latchkey: compiled ${entryPoints.length} files to dist/ in ${Math.round(performance.now() - started)} ms`);
}

/** Builds dist/ unless it is up to date; returns whether it built. */
export async function ensureBuilt(options = {}) {
  if (isBuilt()) return false;
  await build(options);
  return true;
}

/** The template of a fresh embedded database (src/storage/pglite-template.ts), unless it exists. */
export async function ensureTemplate() {
  const { ensurePgliteTemplate, pgliteTemplateDir } = await import(pathToFileURL(path.join(distDir, 'storage/pglite-template.js')).href);
  const started = performance.now();
  if (await ensurePgliteTemplate()) {
    console.error(`latchkey: made the template of a new embedded database in ${Math.round(performance.now() - started)} ms (${path.relative(repoRoot, pgliteTemplateDir())})`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  try {
    if (ifStale) await ensureBuilt();
    else await build();
    await ensureTemplate();
  } catch (error) {
    console.error(`latchkey build failed: ${error?.stack ?? error}`);
    process.exit(1);
  }
}
