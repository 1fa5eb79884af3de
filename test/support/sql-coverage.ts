/**
 * The statements each pass of `npm test` sent to its database (src/storage/sql-trace.ts writes
 * them: a directory per test file, a file per process). A file may run on the embedded database
 * only (`// test-once:`) because its SQL is the same on both databases; this is what holds that
 * claim to account: every statement the PGlite pass ran must also have run in the PostgreSQL pass.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Where this test process's statements go (SQL_TRACE_DIR of the pass, then the file's name), or
 * undefined when the pass is not traced. node --test runs each file in a process of its own.
 */
export function traceDirOfThisFile(): string | undefined {
  const passDir = process.env.SQL_TRACE_DIR;
  if (!passDir) return undefined;
  return path.join(passDir, path.basename(process.argv.find((arg) => arg.endsWith('.test.ts')) ?? 'unknown-file'));
}

/** Each statement shape a pass ran, with the test files that ran it. */
export function statementsIn(passDir: string): Map<string, Set<string>> {
  const shapes = new Map<string, Set<string>>();
  if (!existsSync(passDir)) return shapes;
  for (const testFile of readdirSync(passDir)) {
    for (const processFile of readdirSync(path.join(passDir, testFile))) {
      for (const line of readFileSync(path.join(passDir, testFile, processFile), 'utf8').split('\n')) {
        if (!line) continue;
        if (!shapes.has(line)) shapes.set(line, new Set());
        shapes.get(line)!.add(testFile);
      }
    }
  }
  return shapes;
}

/** Pure: the statements of `ran` that `reference` never ran, sorted, with where they ran. */
export function missingFrom(reference: Map<string, unknown>, ran: Map<string, Set<string>>): { shape: string; files: string[] }[] {
  return [...ran]
    .filter(([shape]) => !reference.has(shape))
    .map(([shape, files]) => ({ shape, files: [...files].sort() }))
    .sort((a, b) => a.shape.localeCompare(b.shape));
}
