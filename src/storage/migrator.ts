/**
 * Latchkey's offline migrator: applies prisma/migrations/<name>/migration.sql files in name
 * order, each in its own transaction, and records them in Prisma's own `_prisma_migrations`
 * table (same columns, same sha256 checksums), so `prisma migrate deploy|status` run from a
 * networked machine against the same database agrees about what is applied.
 *
 * Several instances may start at once against one PostgreSQL server: every migration's
 * transaction first takes a transaction-level advisory lock (on the key Prisma's own engine
 * locks, so it also excludes a concurrent `prisma migrate deploy`), then re-reads the history,
 * so each migration is applied exactly once.
 *
 * The history is append-only: the migrator refuses to run (MigrationHistoryError) when an
 * applied migration's file changed, when a recorded migration is missing on disk, or when
 * Prisma recorded a migration as failed.
 *
 * Migration scripts run inside a transaction, so they must not contain statements PostgreSQL
 * refuses there (CREATE INDEX CONCURRENTLY, ALTER TYPE … ADD VALUE on old servers, VACUUM).
 * `sql` must be a PGlite- or Pool-backed SqlClient (sqlFromPglite(db), sqlFromPgPool(pool)),
 * whose transaction() opens a real transaction.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlClient } from './sql.ts';

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** The key Prisma's schema engine passes to pg_advisory_lock while migrating PostgreSQL. */
export const MIGRATION_LOCK_KEY = 72707369;

/** Prisma's `_prisma_migrations` table, as its schema engine creates it on PostgreSQL. */
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** The history is not something the migrator may build on; a person must look. */
export class MigrationHistoryError extends Error {
  override name = 'MigrationHistoryError';
}

/** A migration script failed; its transaction was rolled back and nothing was recorded. */
export class MigrationFailedError extends Error {
  override name = 'MigrationFailedError';
  readonly migration: string;

  constructor(migration: string, cause: unknown) {
    super(`migration ${migration} failed and was rolled back: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.migration = migration;
  }
}

export interface MigrationFile {
  /** Folder name, e.g. 20261125131531_init. */
  name: string;
  sql: string;
  /** sha256 of migration.sql, lower-case hex: what Prisma stores in `checksum`. */
  checksum: string;
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

/** Reads the migration folders in name order (as Prisma does); throws when one has no migration.sql. */
export async function readMigrations(migrationsDir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await readdir(migrationsDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new MigrationHistoryError(`no migrations directory at ${migrationsDir}`);
    throw error;
  }
  const lock = await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8').catch(() => undefined);
  const provider = lock?.match(/^\s*provider\s*=\s*"([^"]*)"/m)?.[1];
  if (provider !== undefined && provider !== 'postgresql') {
    throw new MigrationHistoryError(`${migrationsDir} holds migrations for ${provider}, not postgresql`);
  }
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const migrations: MigrationFile[] = [];
  for (const name of names) {
    let sql: string;
    try {
      sql = await readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
    } catch (error) {
      throw new MigrationHistoryError(`migration ${name} has no readable migration.sql (${(error as Error).message})`);
    }
    migrations.push({ name, sql, checksum: migrationChecksum(sql) });
  }
  return migrations;
}

interface HistoryRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

async function readHistory(sql: SqlClient): Promise<HistoryRow[] | undefined> {
  const { rows } = await sql.query<{ present: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`);
  if (!rows[0]?.present) return undefined;
  const history = await sql.query<HistoryRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at, migration_name`,
  );
  return history.rows;
}

/**
 * Compares the recorded history with the files: returns which files are applied and which
 * pending, or throws MigrationHistoryError when the two cannot be reconciled.
 */
function reconcile(files: MigrationFile[], rows: HistoryRow[]): MigrationStatus {
  const byName = new Map(files.map((file) => [file.name, file]));
  const applied = new Set<string>();
  for (const row of rows) {
    // Rows marked rolled back (`prisma migrate resolve --rolled-back`) are history only.
    if (row.rolled_back_at !== null && row.rolled_back_at !== undefined) continue;
    if (row.finished_at === null || row.finished_at === undefined) {
      throw new MigrationHistoryError(
        `migration ${row.migration_name} is recorded as started but not finished (a failed \`prisma migrate deploy\`?); ` +
          'repair the database, then mark it with `prisma migrate resolve --applied|--rolled-back`',
      );
    }
    const file = byName.get(row.migration_name);
    if (!file) {
      throw new MigrationHistoryError(
        `migration ${row.migration_name} is applied to the database but missing from the migrations directory ` +
          '(is this an older Latchkey than the one that migrated the database?)',
      );
    }
    if (row.checksum !== file.checksum) {
      throw new MigrationHistoryError(
        `migration ${row.migration_name} was modified after it was applied (checksum ${file.checksum} on disk, ` +
          `${row.checksum} in _prisma_migrations); applied migrations must never be edited — add a new migration instead`,
      );
    }
    applied.add(row.migration_name);
  }
  return {
    applied: files.filter((file) => applied.has(file.name)).map((file) => file.name),
    pending: files.filter((file) => !applied.has(file.name)).map((file) => file.name),
  };
}

/** What is applied and what is pending; throws MigrationHistoryError on an irreconcilable history. Reads only. */
export async function migrationStatus(sql: SqlClient, migrationsDir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationStatus> {
  const files = await readMigrations(migrationsDir);
  return reconcile(files, (await readHistory(sql)) ?? []);
}

/** Names of the migrations `migrate` would apply. */
export async function pendingMigrations(sql: SqlClient, migrationsDir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  return (await migrationStatus(sql, migrationsDir)).pending;
}

/**
 * Applies every pending migration, in name order, each in its own transaction together with its
 * `_prisma_migrations` row. Returns the names this call applied (another instance may have
 * applied the rest). Throws MigrationHistoryError or MigrationFailedError; a failed migration
 * leaves the database as it was before that migration.
 */
export async function migrate(sql: SqlClient, migrationsDir = DEFAULT_MIGRATIONS_DIR): Promise<{ applied: string[] }> {
  const files = await readMigrations(migrationsDir);
  const applied: string[] = [];
  for (;;) {
    const next = await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await tx.exec(CREATE_MIGRATIONS_TABLE);
      // Under the lock: whatever another instance applied meanwhile is visible now.
      const status = reconcile(files, (await readHistory(tx)) ?? []);
      const file = files.find((candidate) => candidate.name === status.pending[0]);
      if (!file) return undefined;
      const id = randomUUID();
      await tx.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, clock_timestamp(), 0)`, [
        id,
        file.checksum,
        file.name,
      ]);
      try {
        await tx.exec(file.sql);
      } catch (error) {
        throw new MigrationFailedError(file.name, error);
      }
      await tx.query(`UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`, [id]);
      return file.name;
    });
    if (next === undefined) return { applied };
    applied.push(next);
  }
}
