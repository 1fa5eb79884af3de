/**
 * `npm test`: the whole suite, the way CI runs it.
 *   1. type-check (tsc --noEmit, strict), then compile src/ to dist/ if it changed (scripts/build.js)
 *   2. the unit tests (test/unit: pure code, or an in-memory PGlite of their own) once
 *   3. every other test file against the embedded database (PGlite)
 *   4. those again against a real PostgreSQL server — TEST_DATABASE_URL if given,
 *      otherwise a throwaway server started here from the machine's PostgreSQL binaries.
 * The total time is printed at the end.
 * Browser tests need Chromium at /usr/bin/chromium (or CHROMIUM_PATH); .ci/run installs it.
 * Arguments narrow the run: `npm test -- test/e2e/code-flow.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './support/latchkey.ts';
import { startPostgres } from './support/postgres.ts';

const startedAt = Date.now();

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'support' ? [] : findTests(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

const args = process.argv.slice(2);
const onlyBackend = process.env.TEST_BACKEND; // 'pglite' | 'postgres' to run one pass only
const files = (args.length ? args.map((f) => path.resolve(f)) : findTests(path.join(repoRoot, 'test'))).sort();

function run(label: string, command: string, commandArgs: string[], env: NodeJS.ProcessEnv = {}): boolean {
  console.log(`\n=== ${label} ===`);
  const result = spawnSync(command, commandArgs, { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

// Unit tests do not depend on the database under test: one pass, not one per database.
const unitDir = path.join(repoRoot, 'test', 'unit') + path.sep;
const unitFiles = files.filter((f) => f.startsWith(unitDir));
const backendFiles = files.filter((f) => !f.startsWith(unitDir));
const nodeTestArgs = (list: string[]) => ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...list];
const testArgs = nodeTestArgs(backendFiles);
let ok = true;

if (!args.length) ok = run('type-check', process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', repoRoot]) && ok;

// The tests start the compiled server (dist/), as `npm start` does: compile it now if the sources
// changed, and make the template new embedded databases are copied from if it is missing.
if (!run('build (dist/, embedded database template)', process.execPath, [path.join(repoRoot, 'scripts/build.js'), '--if-stale'])) {
  console.log('\nThe build failed; no tests were run.');
  process.exit(1);
}

// (whatever TEST_BACKEND says: they use no backend)
if (unitFiles.length) ok = run('unit tests (once)', process.execPath, nodeTestArgs(unitFiles), { TEST_DATABASE_URL: '' }) && ok;

if (backendFiles.length && onlyBackend !== 'postgres') ok = run('tests on the embedded database (PGlite)', process.execPath, testArgs, { TEST_DATABASE_URL: '' }) && ok;

if (backendFiles.length && onlyBackend !== 'pglite') {
  if (process.env.TEST_DATABASE_URL) {
    ok = run('tests on PostgreSQL (TEST_DATABASE_URL)', process.execPath, testArgs) && ok;
  } else {
    let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
    try {
      server = await startPostgres();
    } catch (error) {
      console.error(`\nCould not start PostgreSQL for the second pass: ${(error as Error).message}`);
      console.error('Install PostgreSQL (apt-get install postgresql) or set TEST_DATABASE_URL.');
      ok = false;
    }
    if (server) {
      try {
        ok = run(`tests on PostgreSQL (${server.url})`, process.execPath, testArgs, { TEST_DATABASE_URL: server.url }) && ok;
      } finally {
        await server.stop();
      }
    }
  }
}

const seconds = Math.round((Date.now() - startedAt) / 1000);
console.log(`${ok ? '\nAll test passes succeeded.' : '\nSome tests failed.'} Total time ${Math.floor(seconds / 60)} min ${seconds % 60} s.`);
process.exit(ok ? 0 : 1);
