/**
 * A fresh embedded database starts from a copy of an empty, cleanly shut down PGlite data
 * directory made once at install/build time (`npm install`, `npm run build`), instead of running
 * PostgreSQL's initdb in WebAssembly on every new DATA_DIR (~3–4 s and a ~1 GB memory peak).
 *
 * The template is what PGlite itself produces on a new directory — initdb — with Latchkey's
 * migrations applied by the same migrator as at start-up (their `_prisma_migrations` rows carry
 * the time the template was made), then PostgreSQL's shutdown checkpoint on close. It holds no
 * rows of Latchkey's own: keys and secrets are made per DATA_DIR on first start. It lives in
 * node_modules/.cache/latchkey/, keyed by the PGlite version and a hash of the migrations, so
 * upgrading PGlite or adding a migration makes a new one. Without a matching template PGlite
 * runs initdb and the migrations run as before. The copy is made beside DATA_DIR/pglite
 * (by `cp -R`, several times faster than Node's recursive copy of ~1,000 files) and renamed
 * into place, so an interrupted copy never looks like a database.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_MIGRATIONS_DIR, migrate } from './migrator.ts';
import { sqlFromPglite } from './sql.ts';

const READY = 'template-ready';

function pgliteVersion(): string {
  // The package's exports do not include package.json: find it from the entry point.
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the version of @electric-sql/pglite');
    dir = parent;
  }
}

/** A short hash of the migration files (names and contents), in name order. */
function migrationsFingerprint(migrationsDir = DEFAULT_MIGRATIONS_DIR): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(migrationsDir).sort()) {
    const file = path.join(migrationsDir, name, 'migration.sql');
    if (existsSync(file)) hash.update(`${name}\0`).update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

/** Where the template for the installed PGlite and these migrations lives (same path from src/ and dist/). */
export function pgliteTemplateDir(): string {
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
  return path.join(repoRoot, 'node_modules', '.cache', 'latchkey', `pglite-${pgliteVersion()}-${migrationsFingerprint()}`);
}

/** Makes the template unless it exists. Takes a few seconds (initdb); run at install/build time. */
export async function ensurePgliteTemplate(dir = pgliteTemplateDir()): Promise<boolean> {
  if (existsSync(path.join(dir, READY))) return false;
  const staging = `${dir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(path.join(staging, 'pgdata'));
    try {
      await migrate(sqlFromPglite(db));
    } finally {
      await db.close();
    }
    if (!existsSync(path.join(staging, 'pgdata', 'PG_VERSION'))) throw new Error('PGlite created no database');
    writeFileSync(path.join(staging, READY), `PGlite ${pgliteVersion()}, made ${new Date().toISOString()}\n`);
    try {
      renameSync(staging, dir);
    } catch (error) {
      // A concurrent build finished first: keep its template.
      if (!existsSync(path.join(dir, READY))) throw error;
    }
    // Templates of other PGlite versions or older migrations are no longer used.
    const cache = path.dirname(dir);
    for (const name of readdirSync(cache)) {
      const otherTemplate = name.startsWith('pglite-') && !name.includes('.building-') && name !== path.basename(dir);
      if (otherTemplate) rmSync(path.join(cache, name), { recursive: true, force: true });
    }
    return true;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Puts a copy of the template at `pgdata` when `pgdata` holds no database yet (missing or an empty
 * directory). Returns false, changing nothing, when there is no template or `pgdata` is not empty;
 * PGlite then decides as it always did.
 */
export async function seedFromTemplate(pgdata: string, dir = pgliteTemplateDir()): Promise<boolean> {
  const template = path.join(dir, 'pgdata');
  if (!existsSync(path.join(dir, READY)) || !existsSync(path.join(template, 'PG_VERSION'))) return false;
  if (existsSync(pgdata) && readdirSync(pgdata).length > 0) return false;
  const staging = `${pgdata}.seeding-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    // Asynchronous, so the server's modules keep loading meanwhile.
    await copyTree(template, staging);
    if (existsSync(pgdata)) rmdirSync(pgdata);
    renameSync(staging, pgdata);
    return true;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** `cp -R` in a child process (off the event loop, and fast); Node's own copy where there is no `cp`. */
async function copyTree(from: string, to: string): Promise<void> {
  const copied = await new Promise<boolean>((resolve) => execFile('cp', ['-R', from, to], (error) => resolve(!error)));
  if (copied) return;
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true, errorOnExist: true, force: false, mode: constants.COPYFILE_FICLONE });
}
