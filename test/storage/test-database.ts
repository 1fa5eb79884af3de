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
 * initdb in WebAssembly (~2–3 s of CPU). Empty databases are copies of one made per process.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { migrate } from '../../src/storage/migrator.ts';
import { seedFromTemplate } from '../../src/storage/pglite-template.ts';
import { sqlFromPglite, sqlFromPgPool, type SqlClient } from '../../src/storage/sql.ts';
import { createDatabase, dropDatabase } from '../support/postgres.ts';

export interface TestDatabase {
  sql: SqlClient;
  /** PostgreSQL: the database's URL. */
  url?: string;
  /** PGlite: the instance (e.g. for Prisma's driver adapter). */
  pglite?: PGlite;
  close(): Promise<void>;
}

const onPostgres = () => process.env.TEST_DATABASE_URL;

/** A migrated database, as a new server starts on. `name` labels it on PostgreSQL. */
export async function migratedDatabase(name: string, options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const db = onPostgres() ? await newPostgresDatabase(name, options.poolSize) : await openPglite((pgdata) => seedFromTemplate(pgdata));
  await migrate(db.sql);
  return db;
}

/** A database with nothing in it, not even the migrations table. */
export async function emptyDatabase(name: string, options: { poolSize?: number } = {}): Promise<TestDatabase> {
  if (onPostgres()) return newPostgresDatabase(name, options.poolSize);
  return openPglite(async (pgdata) => execFileSync('cp', ['-R', await pristinePglite(), pgdata]));
}

async function newPostgresDatabase(name: string, poolSize = 4): Promise<TestDatabase> {
  const url = await createDatabase(onPostgres()!, `${name}_${process.pid}_${randomBytes(3).toString('hex')}`);
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on('error', () => {}); // an idle client cut off while the database is dropped
  return {
    url,
    sql: sqlFromPgPool(pool),
    async close() {
      await pool.end();
      await dropDatabase(url);
    },
  };
}

const scratch: string[] = [];
process.once('exit', () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function scratchDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-storage-test-'));
  scratch.push(dir);
  return dir;
}

/** Opens PGlite on a new data directory that `fill` puts in place first (or leaves for initdb). */
async function openPglite(fill: (pgdata: string) => unknown): Promise<TestDatabase> {
  const dir = scratchDir();
  const pgdata = path.join(dir, 'pgdata');
  await fill(pgdata);
  const db = await PGlite.create(pgdata);
  return {
    pglite: db,
    sql: sqlFromPglite(db),
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A data directory PGlite's initdb made, closed cleanly: copied for each empty database. */
let pristine: Promise<string> | undefined;
function pristinePglite(): Promise<string> {
  pristine ??= (async () => {
    const pgdata = path.join(scratchDir(), 'pgdata');
    await (await PGlite.create(pgdata)).close();
    return pgdata;
  })();
  return pristine;
}
