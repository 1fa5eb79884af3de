import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { SqlClient } from './sql.ts';

/**
 * SQL_TRACE_DIR (a development and test aid, docs/configuration.md): each process writes every
 * distinct statement it sends, once, to DIR/<pid>.sql. Only statement texts, which hold no values
 * (Prisma and Latchkey's raw SQL pass every value as a parameter), never the parameters. The test
 * suite compares the statements of its two passes (test/run.ts): every statement the suite runs
 * on the embedded database must also have run on PostgreSQL.
 */
export type SqlTracer = (text: string) => void;

/**
 * Pure: one line per statement shape, so that the same statement with more or fewer values is
 * one shape: whitespace collapsed, `$1` → `$`, a list of parameters → `$…`, several rows → `($…), …`,
 * a page size written into the text (`LIMIT 26`) → `LIMIT n`.
 */
export function statementShape(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\$\d+/g, '$')
    .replace(/\$(?:\s*,\s*\$)+/g, '$…')
    .replace(/\(\$…?\)(?:\s*,\s*\(\$…?\))+/g, '($…), …')
    .replace(/\bLIMIT \d+/g, 'LIMIT n');
}

export function sqlTracer(dir: string): SqlTracer {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${process.pid}.sql`);
  const seen = new Set<string>();
  return (text) => {
    const shape = statementShape(text);
    // (Prisma reports a commit it leaves to the driver as a comment: not a statement)
    if (seen.has(shape) || shape.startsWith('--')) return;
    seen.add(shape);
    // Synchronous and per statement: a process the tests kill still leaves what it ran.
    appendFileSync(file, `${shape}\n`, { mode: 0o600 });
  };
}

/** The same client, telling `trace` each statement first; the client itself when there is no tracer. */
export function tracedSql(client: SqlClient, trace: SqlTracer | undefined): SqlClient {
  if (!trace) return client;
  return {
    query(text, params, options) {
      trace(text);
      return client.query(text, params, options);
    },
    exec(script) {
      trace(script);
      return client.exec(script);
    },
    transaction(fn) {
      return client.transaction((tx) => fn(tracedSql(tx, trace)));
    },
  };
}
