/**
 * The offline migrator (src/storage/migrator.ts) and the migration history it applies:
 * applied once, recorded the way Prisma records it (Prisma's own engine agrees), edited or
 * missing history refused, and a freshly migrated database identical to prisma/schema.prisma
 * according to Prisma's schema engine (which is also shown to notice a difference).
 *
 * Runs on the backend under test, one fresh empty database per test (test-database.ts): PGlite,
 * or with TEST_DATABASE_URL a PostgreSQL database created on that server and dropped afterwards.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import {
  DEFAULT_MIGRATIONS_DIR,
  migrate,
  MigrationFailedError,
  MigrationHistoryError,
  migrationChecksum,
  migrationStatus,
  pendingMigrations,
  readMigrations,
} from '../../src/storage/migrator.ts';
import {
  type AdapterFactoryLike,
  createMigrationSql,
  diffDatabaseAgainstSchema,
  isEmptyMigrationScript,
  loadMigrationList,
  postgresSchemaEngineFactory,
  withSchemaEngine,
} from '../../tools/schema-engine.ts';
import { sqlFromPgPool, type SqlClient } from '../../src/storage/sql.ts';
import { dropDatabase } from '../support/postgres.ts';
import { emptyDatabase } from './test-database.ts';

const PG_URL = process.env.TEST_DATABASE_URL;
const NO_FILTER = { externalTables: [], externalEnums: [] };

interface Backend {
  /** PostgreSQL only: the fresh database's URL. */
  url?: string;
  sql: SqlClient;
  /** A driver adapter factory on the same database, for Prisma's schema engine. */
  adapter(): AdapterFactoryLike;
  close(): Promise<void>;
}

/** A fresh, empty database (test-database.ts) and Prisma's way into it. */
async function openEmpty(): Promise<Backend> {
  const db = await emptyDatabase('migrator');
  return { ...db, adapter: () => (db.pglite ? new PrismaPGlite(db.pglite) : postgresSchemaEngineFactory(db.url!)) };
}

function quietPool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 2 });
  pool.on('error', () => {});
  return pool;
}

async function withBackend(open: () => Promise<Backend>, fn: (backend: Backend) => Promise<void>): Promise<void> {
  const backend = await open();
  try {
    await fn(backend);
  } finally {
    await backend.close();
  }
}

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A copy of the real migration history, to grow or tamper with. */
async function copyOfHistory(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-migrations-'));
  tempDirs.push(dir);
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name));
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
}

async function columnsOf(sql: SqlClient, table: string) {
  const { rows } = await sql.query(
    `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
       FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1
      ORDER BY ordinal_position`,
    [table],
  );
  return rows;
}

/** Prisma's `_prisma_migrations` on PostgreSQL, column by column. */
const PRISMA_MIGRATIONS_COLUMNS = [
  { column_name: 'id', data_type: 'character varying', character_maximum_length: 36, is_nullable: 'NO', column_default: null },
  { column_name: 'checksum', data_type: 'character varying', character_maximum_length: 64, is_nullable: 'NO', column_default: null },
  { column_name: 'finished_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
  { column_name: 'migration_name', data_type: 'character varying', character_maximum_length: 255, is_nullable: 'NO', column_default: null },
  { column_name: 'logs', data_type: 'text', character_maximum_length: null, is_nullable: 'YES', column_default: null },
  { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
  { column_name: 'started_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'NO', column_default: 'now()' },
  { column_name: 'applied_steps_count', data_type: 'integer', character_maximum_length: null, is_nullable: 'NO', column_default: '0' },
];

function migrationSuite(open: () => Promise<Backend> = openEmpty) {
  test('applies every migration once; a second run applies nothing', async () => {
    await withBackend(open, async ({ sql }) => {
      const names = (await readMigrations()).map((m) => m.name);
      assert.ok(names.length > 0, 'prisma/migrations holds at least the initial migration');
      assert.deepEqual(await pendingMigrations(sql), names);

      assert.deepEqual(await migrate(sql), { applied: names });
      assert.deepEqual(await migrate(sql), { applied: [] });
      assert.deepEqual(await migrationStatus(sql), { applied: names, pending: [] });

      const { rows } = await sql.query<{ count: number }>('SELECT count(*)::int AS count FROM "_prisma_migrations"');
      assert.equal(rows[0]?.count, names.length);
    });
  });

  test("records migrations in _prisma_migrations exactly as Prisma's engine does", async () => {
    await withBackend(open, async ({ sql }) => {
      await migrate(sql);
      assert.deepEqual(await columnsOf(sql, '_prisma_migrations'), PRISMA_MIGRATIONS_COLUMNS);

      const files = await readMigrations();
      const { rows } = await sql.query<Record<string, unknown>>('SELECT * FROM "_prisma_migrations" ORDER BY migration_name');
      assert.equal(rows.length, files.length);
      for (const [i, row] of rows.entries()) {
        const file = files[i]!;
        assert.equal(row.migration_name, file.name);
        assert.equal(row.checksum, migrationChecksum(await readFile(path.join(DEFAULT_MIGRATIONS_DIR, file.name, 'migration.sql'), 'utf8')));
        assert.match(String(row.checksum), /^[0-9a-f]{64}$/);
        assert.match(String(row.id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.ok(row.finished_at instanceof Date && row.started_at instanceof Date);
        assert.ok(row.finished_at.getTime() >= row.started_at.getTime());
        assert.equal(row.applied_steps_count, 1);
        assert.equal(row.logs, null);
        assert.equal(row.rolled_back_at, null);
      }
    });
  });

  test("Prisma's engine agrees: it sees our history as applied and unedited", async () => {
    await withBackend(open, async ({ sql, adapter }) => {
      await migrate(sql);
      const migrationsList = await loadMigrationList();
      const [diagnosis, applied] = await withSchemaEngine(adapter(), async (engine) => [
        await engine.diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: NO_FILTER }),
        await engine.applyMigrations({ migrationsList, filters: NO_FILTER }),
      ] as const);
      assert.deepEqual(diagnosis, { editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true, history: null });
      assert.deepEqual(applied.appliedMigrationNames, []);
    });
  });

  test("we agree with Prisma's engine: a history it applied is complete for us, same table", async () => {
    await withBackend(open, async ({ sql, adapter }) => {
      const migrationsList = await loadMigrationList();
      const result = await withSchemaEngine(adapter(), (engine) => engine.applyMigrations({ migrationsList, filters: NO_FILTER }));
      const names = (await readMigrations()).map((m) => m.name);
      assert.deepEqual(result.appliedMigrationNames, names);
      assert.deepEqual(await columnsOf(sql, '_prisma_migrations'), PRISMA_MIGRATIONS_COLUMNS);
      assert.deepEqual(await migrationStatus(sql), { applied: names, pending: [] });
      assert.deepEqual(await migrate(sql), { applied: [] });
    });
  });

  test('refuses a history whose recorded checksum differs from the file', async () => {
    await withBackend(open, async ({ sql }) => {
      await migrate(sql);
      const [first] = await readMigrations();
      await sql.query('UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = $2', ['0'.repeat(64), first!.name]);
      await assert.rejects(migrate(sql), (error: Error) => error instanceof MigrationHistoryError && /modified after it was applied/.test(error.message));
      await assert.rejects(migrationStatus(sql), MigrationHistoryError);
    });
  });

  test('refuses an applied migration edited on disk', async () => {
    await withBackend(open, async ({ sql }) => {
      const dir = await copyOfHistory();
      await migrate(sql, dir);
      const [first] = await readMigrations(dir);
      await appendFile(path.join(dir, first!.name, 'migration.sql'), '\n-- an innocent-looking edit\n');
      await assert.rejects(migrate(sql, dir), (error: Error) => error instanceof MigrationHistoryError && error.message.includes(first!.name));
    });
  });

  test('refuses a recorded migration that is missing on disk', async () => {
    await withBackend(open, async ({ sql }) => {
      const dir = await copyOfHistory();
      await addMigration(dir, '29991231000000_from_the_future', 'CREATE TABLE "future_thing" ("id" TEXT PRIMARY KEY);\n');
      await migrate(sql, dir);
      await assert.rejects(migrate(sql), (error: Error) => error instanceof MigrationHistoryError && /29991231000000_from_the_future.*missing/.test(error.message));
      await assert.rejects(migrationStatus(sql), MigrationHistoryError);
    });
  });

  test('refuses a migration Prisma recorded as failed', async () => {
    await withBackend(open, async ({ sql }) => {
      await migrate(sql);
      await sql.query('UPDATE "_prisma_migrations" SET finished_at = NULL, logs = $1', ['boom']);
      await assert.rejects(migrate(sql), (error: Error) => error instanceof MigrationHistoryError && /started but not finished/.test(error.message));
    });
  });

  test('a failing migration is rolled back whole and not recorded', async () => {
    await withBackend(open, async ({ sql }) => {
      const dir = await copyOfHistory();
      const good = (await readMigrations(dir)).map((m) => m.name);
      await addMigration(dir, '29991231000000_broken', 'CREATE TABLE "half_done" ("id" TEXT);\nSELECT 1 / 0;\n');
      await assert.rejects(migrate(sql, dir), (error: Error) => error instanceof MigrationFailedError && error.migration === '29991231000000_broken');
      assert.deepEqual(await migrationStatus(sql, dir), { applied: good, pending: ['29991231000000_broken'] });
      const { rows } = await sql.query<{ present: boolean }>(`SELECT to_regclass('"half_done"') IS NOT NULL AS present`);
      assert.equal(rows[0]?.present, false);
    });
  });

  test('a freshly migrated database matches prisma/schema.prisma (Prisma schema engine diff)', async () => {
    await withBackend(open, async ({ sql, adapter }) => {
      // Sanity: against an empty database the same check reports every table.
      const beforeMigrating = await diffDatabaseAgainstSchema(adapter());
      assert.match(beforeMigrating, /CREATE TABLE "oidc_payload"/);

      await migrate(sql);
      const drift = await diffDatabaseAgainstSchema(adapter());
      assert.ok(isEmptyMigrationScript(drift), `migrated database differs from schema.prisma:\n${drift}`);
    });
  });

  test('the drift check notices a dropped index, a relaxed NOT NULL, a dropped unique and a dropped foreign key', async () => {
    await withBackend(open, async ({ sql, adapter }) => {
      await migrate(sql);
      await sql.exec(`
        DROP INDEX "oidc_payload_uid_idx";
        ALTER TABLE "client" ALTER COLUMN "name" DROP NOT NULL;
        DROP INDEX "user_email_key";
        ALTER TABLE "client_scope" DROP CONSTRAINT "client_scope_scope_id_fkey";
      `);
      const drift = await diffDatabaseAgainstSchema(adapter());
      assert.ok(!isEmptyMigrationScript(drift));
      assert.match(drift, /CREATE INDEX "oidc_payload_uid_idx" ON "oidc_payload"\("uid"\)/);
      assert.match(drift, /ALTER TABLE "client" ALTER COLUMN "name" SET NOT NULL/);
      assert.match(drift, /CREATE UNIQUE INDEX "user_email_key" ON "user"\("email"\)/);
      assert.match(drift, /ADD CONSTRAINT "client_scope_scope_id_fkey"/);
    });
  });
}

// PGlite's part runs in the PGlite pass only: in the PostgreSQL pass it would be the same run again.
describe('migrator on PGlite', { skip: PG_URL ? 'the PostgreSQL pass: the PGlite part ran in the PGlite pass' : false }, () => {
  migrationSuite();

  test('the migration history covers every change in prisma/schema.prisma', async () => {
    const missing = await createMigrationSql();
    assert.ok(
      isEmptyMigrationScript(missing),
      `prisma/schema.prisma has changes no migration covers; run \`node --import tsx tools/new-migration.ts <name>\`:\n${missing}`,
    );
  });

  test('migration_lock.toml is what Prisma writes', async () => {
    assert.equal(
      await readFile(path.join(DEFAULT_MIGRATIONS_DIR, 'migration_lock.toml'), 'utf8'),
      '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
    );
  });
});

describe('migrator on PostgreSQL', { skip: PG_URL ? false : 'TEST_DATABASE_URL not set: PostgreSQL part skipped' }, () => {
  migrationSuite();

  test('under a default collation other than C (ICU en-US), the users search by e-mail prefix is an index range scan', async (t) => {
    const name = `icu_${process.pid}_${randomBytes(3).toString('hex')}`;
    const server = new URL(PG_URL!);
    server.pathname = '/postgres';
    const admin = new pg.Client({ connectionString: server.toString() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.utf8'`);
    } catch (error) {
      return t.skip(`this PostgreSQL cannot make an ICU en-US database: ${(error as Error).message}`);
    } finally {
      await admin.end();
    }
    const url = new URL(PG_URL!);
    url.pathname = `/${name}`;
    const pool = quietPool(url.toString());
    try {
      await migrate(sqlFromPgPool(pool));
      await pool.query(
        `INSERT INTO "user" (id, email, password_hash, updated_at)
         SELECT 'u' || i, 'user' || lpad(i::text, 5, '0') || '@example.com', 'x', now() FROM generate_series(1, 20000) AS i`,
      );
      await pool.query('ANALYZE "user"');
      // listUsers' statement (src/accounts/user-directory.ts): without the C collation on the column
      // (migration 20261202170100) LIKE cannot use the e-mail index here, and every user is read.
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT id, email FROM "user" WHERE email LIKE 'user0999%' ORDER BY email LIMIT 51`);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /Index Cond: \(\(email >= 'user0999'::text\) AND \(email < 'user099:'::text\)\)/, plan);
    } finally {
      await pool.end();
      await dropDatabase(url.toString());
    }
  });

  test('instances migrating at once: every migration applied exactly once, in order', async () => {
    await withBackend(openEmpty, async ({ sql, url }) => {
      // Reach the same database through separate pools, as separate processes would.
      const pools = [0, 1].map(() => quietPool(url!));
      try {
        const results = await Promise.all(pools.map((pool) => migrate(sqlFromPgPool(pool))));
        const names = (await readMigrations()).map((m) => m.name);
        // Each migration is its own transaction under the advisory lock, so the two may take
        // turns; what matters is that nothing is applied twice or skipped.
        const applied = results.flatMap((r) => r.applied);
        assert.deepEqual([...applied].sort(), names, `applied by: ${JSON.stringify(results)}`);
        for (const r of results) assert.deepEqual(r.applied, [...r.applied].sort(), 'each instance applies in name order');
        const { rows } = await sql.query<{ migration_name: string }>('SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name');
        assert.deepEqual(rows.map((r) => r.migration_name), names);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });
  });

  test('instances migrating a longer history at once: each migration applied exactly once, in order', async () => {
    await withBackend(openEmpty, async ({ sql, url }) => {
      const dir = await copyOfHistory();
      for (let i = 1; i <= 4; i++) {
        // Each one slow enough that the instances really overlap.
        await addMigration(dir, `2999123100000${i}_step_${i}`, `SELECT pg_sleep(0.1);\nCREATE TABLE "step_${i}" ("id" INTEGER PRIMARY KEY);\n`);
      }
      const names = (await readMigrations(dir)).map((m) => m.name);
      const pools = [0, 1, 2].map(() => quietPool(url!));
      try {
        const results = await Promise.all(pools.map((pool) => migrate(sqlFromPgPool(pool), dir)));
        const appliedEverywhere = results.flatMap((r) => r.applied);
        assert.deepEqual([...appliedEverywhere].sort(), names, `applied by: ${JSON.stringify(results)}`);
        const { rows } = await sql.query<{ migration_name: string }>(
          'SELECT migration_name FROM "_prisma_migrations" ORDER BY finished_at',
        );
        assert.deepEqual(rows.map((r) => r.migration_name), names);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });
  });
});
