/**
 * `npm test`: the whole suite, the way CI runs it.
 *   1. type-check (tsc --noEmit, strict), then compile src/ to dist/ if it changed (scripts/build.js)
 *   2. the unit tests (test/unit: pure code, or an in-memory PGlite of their own) once
 *   3. every other test file against the embedded database (PGlite) and, at the same time,
 *      against a real PostgreSQL server — TEST_DATABASE_URL if given, otherwise a throwaway
 *      server started here from the machine's PostgreSQL binaries. The two passes share the
 *      machine (most of a test's time is spent waiting on a server, a browser or a socket);
 *      the PGlite pass prints as it goes, the PostgreSQL pass's report follows it.
 *      A file whose first lines say `// test-once: <why the database does not matter>` runs in
 *      the PGlite pass only, which therefore runs four files at a time to the other's three. The
 *      claim is checked: both passes record the SQL they send, and a statement that ran on
 *      PGlite but never on PostgreSQL fails the run (test/support/sql-coverage.ts).
 * The slowest files of each pass, the total time and the CPU time are printed at the end.
 * Browser tests need Chromium at /usr/bin/chromium (or CHROMIUM_PATH); .ci/run installs it.
 * Arguments narrow the run: `npm test -- test/e2e/code-flow.test.ts`; TEST_BACKEND=pglite or
 * TEST_BACKEND=postgres runs one pass only.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './support/latchkey.ts';
import { cpuOfThisProcessTree } from './support/cpu-time.ts';
import { startPostgres } from './support/postgres.ts';
import { missingFrom, statementsIn } from './support/sql-coverage.ts';

const startedAt = Date.now();

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'support' ? [] : findTests(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

/** Pure: whether a test file declares, in its opening lines, that one database pass is enough. */
function runsOnce(text: string): boolean {
  return /^\/\/ test-once: \S/m.test(text.split('\n').slice(0, 20).join('\n'));
}

const args = process.argv.slice(2);
const onlyBackend = process.env.TEST_BACKEND; // 'pglite' | 'postgres' to run one pass only
const files = (args.length ? args.map((f) => path.resolve(f)) : findTests(path.join(repoRoot, 'test'))).sort();

function runSync(label: string, command: string, commandArgs: string[], env: NodeJS.ProcessEnv = {}): boolean {
  console.log(`\n=== ${label} ===`);
  const result = spawnSync(command, commandArgs, { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

/**
 * Runs a pass in the background. Its output is streamed when `live`, otherwise kept and handed
 * back, so two passes running at once do not interleave their reports.
 */
function runPass(label: string, commandArgs: string[], env: NodeJS.ProcessEnv, live: boolean): Promise<{ ok: boolean; report: string }> {
  if (live) console.log(`\n=== ${label} ===`);
  const child = spawn(process.execPath, commandArgs, { cwd: repoRoot, stdio: ['ignore', live ? 'inherit' : 'pipe', live ? 'inherit' : 'pipe'], env: { ...process.env, ...env } });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => chunks.push(d));
  child.stderr?.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ ok: code === 0, report: live ? '' : `\n=== ${label} ===\n${Buffer.concat(chunks).toString()}` }));
  });
}

// Unit tests do not depend on the database under test: one pass, not one per database.
const unitDir = path.join(repoRoot, 'test', 'unit') + path.sep;
const unitFiles = files.filter((f) => f.startsWith(unitDir));
// Largest first: a pass runs a few files at a time, and one long file started last would run alone
// for its last minutes. A file's size is a rough but deterministic stand-in for its duration
// (a clean clone has no timings from an earlier run).
const backendFiles = files.filter((f) => !f.startsWith(unitDir)).sort((a, b) => statSync(b).size - statSync(a).size || a.localeCompare(b));
const twiceFiles = backendFiles.filter((f) => !runsOnce(readFileSync(f, 'utf8')));
const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${path.join(repoRoot, 'test/support/slowest-files.ts')}`, '--test-reporter-destination=stdout'];
// Node runs the TypeScript itself (type stripping; tsconfig's erasableSyntaxOnly keeps the code
// strippable): about a third less CPU per test process than tsx's loader.
const nodeTestArgs = (list: string[], concurrency = 2) => ['--test', `--test-concurrency=${concurrency}`, ...reporters, ...list];
// The test processes reuse V8's compiled code of their modules (playwright-core, openid-client, …)
// from one run to the next, as the server and the CLI do (src/cli/compile-cache.ts).
process.env.NODE_COMPILE_CACHE ??= path.join(repoRoot, 'node_modules', '.cache', 'latchkey', 'test-compile-cache');
let ok = true;

if (!args.length) ok = runSync('type-check', process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', repoRoot]) && ok;

// The tests start the compiled server (dist/), as `npm start` does: compile it now if the sources
// changed, and make the template new embedded databases are copied from if it is missing.
if (!runSync('build (dist/, embedded database template)', process.execPath, [path.join(repoRoot, 'scripts/build.js'), '--if-stale'])) {
  console.log('\nThe build failed; no tests were run.');
  process.exit(1);
}

// (whatever TEST_BACKEND says: they use no backend)
if (unitFiles.length) ok = runSync('unit tests (once)', process.execPath, nodeTestArgs(unitFiles), { TEST_DATABASE_URL: '' }) && ok;

const runPglite = backendFiles.length > 0 && onlyBackend !== 'postgres';
const runPostgres = twiceFiles.length > 0 && onlyBackend !== 'pglite';
let server: Awaited<ReturnType<typeof startPostgres>> | undefined;
let postgresUrl = process.env.TEST_DATABASE_URL;
if (runPostgres && !postgresUrl) {
  try {
    server = await startPostgres();
    postgresUrl = server.url;
  } catch (error) {
    console.error(`\nCould not start PostgreSQL for the second pass: ${(error as Error).message}`);
    console.error('Install PostgreSQL (apt-get install postgresql) or set TEST_DATABASE_URL.');
    ok = false;
  }
}
// The SQL each pass sends, so that a `test-once` file cannot hold the only run of a statement
// (test/support/sql-coverage.ts). Checked when the whole suite runs on both databases.
const traceDir = !args.length && runPglite && runPostgres ? mkdtempSync(path.join(os.tmpdir(), 'latchkey-sql-')) : undefined;
let keepTrace = false;
const traceOf = (pass: string) => (traceDir ? { SQL_TRACE_DIR: path.join(traceDir, pass) } : {});
// The random part of fuzz-all-routes draws the same requests in both passes (a new draw each run):
// otherwise a statement only one draw reached would fail the SQL comparison above by chance.
process.env.FUZZ_SEED ??= String(randomInt(2 ** 31));
console.log(`\nFuzz seed: ${process.env.FUZZ_SEED} (FUZZ_SEED=${process.env.FUZZ_SEED} npm test draws the same again)`);
try {
  const passes = [
    runPglite ? runPass('tests on the embedded database (PGlite)', nodeTestArgs(backendFiles, 4), { TEST_DATABASE_URL: '', ...traceOf('pglite') }, true) : undefined,
    runPostgres && postgresUrl
      ? runPass(`tests on PostgreSQL (${postgresUrl})`, nodeTestArgs(onlyBackend === 'postgres' ? backendFiles : twiceFiles, 3), { TEST_DATABASE_URL: postgresUrl, ...traceOf('postgres') }, !runPglite)
      : undefined,
  ];
  for (const pass of passes) {
    if (!pass) continue;
    const { ok: passed, report } = await pass;
    process.stdout.write(report);
    ok = passed && ok;
  }
  if (traceDir && ok) {
    const onPglite = statementsIn(path.join(traceDir, 'pglite'));
    const missing = missingFrom(statementsIn(path.join(traceDir, 'postgres')), onPglite);
    if (missing.length) {
      ok = false;
      keepTrace = true;
      console.log(`\n${missing.length} of the ${onPglite.size} SQL statements the PGlite pass ran never ran on PostgreSQL (only in test-once files); the traces are in ${traceDir}:`);
      for (const { shape, files } of missing) console.log(`  ${shape.length > 240 ? `${shape.slice(0, 240)}…` : shape}\n    (${files.join(', ')})`);
    } else {
      console.log(`\nSQL: the PostgreSQL pass ran all ${onPglite.size} statements the PGlite pass ran.`);
    }
  }
} finally {
  await server?.stop();
  if (traceDir && !keepTrace) rmSync(traceDir, { recursive: true, force: true });
}

const seconds = Math.round((Date.now() - startedAt) / 1000);
console.log(`${ok ? '\nAll test passes succeeded.' : '\nSome tests failed.'} Total time ${Math.floor(seconds / 60)} min ${seconds % 60} s.`);
const cpu = cpuOfThisProcessTree();
if (cpu) {
  // Unlike the wall time, this hardly depends on what else the machine runs (test/support/cpu-time.ts).
  console.log(`CPU time ${Math.round(cpu.user + cpu.system)} s (user ${Math.round(cpu.user)} s, system ${Math.round(cpu.system)} s), npm test and the processes it waited for.`);
}
process.exit(ok ? 0 : 1);
