/**
 * Dev tool: write the next migration from the difference between the migration history in
 * prisma/migrations and prisma/schema.prisma — what `prisma migrate dev --create-only` does,
 * but offline (Prisma's WebAssembly schema engine on an in-memory PGlite shadow database).
 *
 *   node_modules/.bin/node --import tsx tools/new-migration.ts <name>
 *   node_modules/.bin/node --import tsx tools/new-migration.ts --check
 *
 * With <name>, writes prisma/migrations/<UTC yyyyMMddHHmmss>_<name>/migration.sql (and
 * migration_lock.toml if missing) and prints its path; writes nothing when the history already
 * matches the schema. Add `--allow-empty` for an empty migration to fill in by hand.
 * With --check, writes nothing and exits 1 when the schema has changes no migration covers.
 *
 * Review the SQL before committing: the engine drops and recreates where it must (e.g. a
 * renamed column becomes DROP + ADD). Migrations are applied by src/storage/migrator.ts when
 * the server starts, and never edited once committed (the migrator refuses edited history).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createMigrationSql,
  DEFAULT_MIGRATIONS_DIR,
  DEFAULT_SCHEMA_PATH,
  isEmptyMigrationScript,
  MIGRATION_LOCK_TOML,
} from './schema-engine.ts';

/** `20261125131500`, as Prisma names migration folders. */
export function migrationTimestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Lower-case snake_case, like the names Prisma gives migration folders. */
export function migrationSlug(name: string): string {
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
  if (!slug) throw new Error(`"${name}" is not a usable migration name`);
  return slug;
}

export interface NewMigrationResult {
  /** Folder name, e.g. 20261125131500_add_thing; undefined when nothing was written. */
  name?: string;
  sql: string;
}

export async function writeNewMigration(
  name: string,
  options: { migrationsDir?: string; schemaPath?: string; allowEmpty?: boolean; now?: Date } = {},
): Promise<NewMigrationResult> {
  const migrationsDir = options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  const folder = `${migrationTimestamp(options.now)}_${migrationSlug(name)}`;
  const sql = await createMigrationSql(migrationsDir, options.schemaPath ?? DEFAULT_SCHEMA_PATH);
  if (isEmptyMigrationScript(sql) && !options.allowEmpty) return { sql };
  const dir = path.join(migrationsDir, folder);
  if (existsSync(dir)) throw new Error(`${dir} already exists`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'migration.sql'), isEmptyMigrationScript(sql) ? '-- This is an empty migration.\n' : sql);
  const lockFile = path.join(migrationsDir, 'migration_lock.toml');
  if (!existsSync(lockFile)) await writeFile(lockFile, MIGRATION_LOCK_TOML);
  return { name: folder, sql };
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((arg) => arg.startsWith('--')));
  const [name] = argv.filter((arg) => !arg.startsWith('--'));
  if (flags.has('--check')) {
    const sql = await createMigrationSql();
    if (isEmptyMigrationScript(sql)) {
      console.log('prisma/migrations is up to date with prisma/schema.prisma');
      return 0;
    }
    console.error('prisma/schema.prisma has changes no migration covers:\n');
    console.error(sql);
    return 1;
  }
  if (!name) {
    console.error('usage: node --import tsx tools/new-migration.ts <name> [--allow-empty] | --check');
    return 2;
  }
  const result = await writeNewMigration(name, { allowEmpty: flags.has('--allow-empty') });
  if (!result.name) {
    console.log('No schema changes: prisma/migrations already matches prisma/schema.prisma (nothing written).');
    return 0;
  }
  console.log(`Wrote ${path.relative(process.cwd(), path.join(DEFAULT_MIGRATIONS_DIR, result.name, 'migration.sql'))}:\n`);
  console.log(result.sql);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    },
  );
}
