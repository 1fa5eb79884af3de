/**
 * A database of its own for a storage test, on the backend under test: PGlite, or a new
 * database on the PostgreSQL server TEST_DATABASE_URL names (dropped again by close()).
 *
 *   const db = await migratedDatabase('email_tokens');   // what a new server starts on
 *   const db = await emptyDatabase('migrator');          // nothing in it yet
 *   … db.sql …
 *   await db.close();
 *
 * On PGlite a migrated database is what a new DATA_DIR gets: a copy of the migrated template made
 * at build time (src/storage/pglite-template.ts; initdb and every migration when there is none),
 * then the migrator, as at server start. That costs a copy and an open instead of PostgreSQL's
 * initdb in WebAssembly (~2–3 s of CPU). An empty database is an in-memory clone of one made once
 * per process (a third of initdb's cost). In memory, because the migrations tests then write cost
 * more in files: the migrator test took 5 s more CPU on copies of an empty data directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { migrate } from '../../src/storage/migrator.ts';
import { openDatabase, type Database } from '../../src/storage/database.ts';
import { seedFromTemplate } from '../../src/storage/pglite-template.ts';
import { sqlFromPglite, sqlFromPgPool, type SqlClient } from '../../src/storage/sql.ts';
import { sqlTracer, tracedSql } from '../../src/storage/sql-trace.ts';
import { createDatabase, dropDatabase } from '../support/postgres.ts';
import { traceDirOfThisFile } from '../support/sql-coverage.ts';

export interface TestDatabase {
  sql: SqlClient;
  /** PostgreSQL: the database's URL. */
  url?: string;
  /** PGlite: the instance (e.g. for Prisma's driver adapter). */
  pglite?: PGlite;
  close(): Promise<void>;
}

const onPostgres = () => process.env.TEST_DATABASE_URL;

// The statements these tests send count for npm test's comparison of its two passes, as a
// server's do (test/support/sql-coverage.ts).
const traceDir = traceDirOfThisFile();
const trace = traceDir ? sqlTracer(traceDir) : undefined;
const traced = (sql: SqlClient) => tracedSql(sql, trace);

/** A migrated database, as a new server starts on. `name` labels it on PostgreSQL. */
export async function migratedDatabase(name: string, options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const db = onPostgres() ? await newPostgresDatabase(name, options.poolSize) : await pgliteFromTemplate();
  await migrate(db.sql);
  return db;
}

/**
 * A migrated database opened as a server opens it (src/storage/database.ts: Prisma and raw SQL),
 * for tests of library functions that take `services.db`; on PostgreSQL also its URL, for a
 * connection of a test's own.
 */
export async function openedDatabase(name: string): Promise<{ db: Database; url?: string; close(): Promise<void> }> {
  const settings = { databasePoolSize: 4, sqlTraceDir: traceDir };
  if (onPostgres()) {
    const url = await createDatabase(onPostgres()!, `${name}_${process.pid}_${randomBytes(3).toString('hex')}`);
    const db = await openDatabase({ ...settings, databaseUrl: url, dataDir: '' });
    await migrate(db.sql);
    return { db, url, close: async () => (await db.close(), await dropDatabase(url)) };
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-storage-test-'));
  const db = await openDatabase({ ...settings, databaseUrl: '', dataDir });
  await migrate(db.sql);
  return { db, close: async () => (await db.close(), rmSync(dataDir, { recursive: true, force: true })) };
}

/** A database with nothing in it, not even the migrations table. */
export async function emptyDatabase(name: string, options: { poolSize?: number } = {}): Promise<TestDatabase> {
  if (onPostgres()) return newPostgresDatabase(name, options.poolSize);
  pristine ??= PGlite.create();
  const db = (await (await pristine).clone()) as PGlite;
  return { pglite: db, sql: traced(sqlFromPglite(db)), close: () => db.close() };
}

/** What every empty PGlite database is cloned from (clone() needs one that finished starting). */
let pristine: Promise<PGlite> | undefined;
after(async () => {
  await (await pristine)?.close();
});

async function newPostgresDatabase(name: string, poolSize = 4): Promise<TestDatabase> {
  const url = await createDatabase(onPostgres()!, `${name}_${process.pid}_${randomBytes(3).toString('hex')}`);
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on('error', () => {}); // an idle client cut off while the database is dropped
  return {
    url,
    sql: traced(sqlFromPgPool(pool)),
    async close() {
      await pool.end();
      await dropDatabase(url);
    },
  };
}

/** PGlite on a new data directory: a copy of the build's migrated template, or initdb without one. */
async function pgliteFromTemplate(): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-storage-test-'));
  const pgdata = path.join(dir, 'pgdata');
  await seedFromTemplate(pgdata);
  const db = await PGlite.create(pgdata);
  return {
    pglite: db,
    sql: traced(sqlFromPglite(db)),
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
