/**
 * A fresh embedded database starts from a copy of an empty, cleanly shut down PGlite data
 * directory made once at install/build time (`npm install`, `npm run build`), instead of running
 * PostgreSQL's initdb in WebAssembly on every new DATA_DIR (~3–4 s and a ~1 GB memory peak).
 *
 * The template is what PGlite itself produces on a new directory — initdb, then PostgreSQL's
 * shutdown checkpoint on close — before Latchkey touches it: no tables, keys or secrets (those are
 * created per DATA_DIR by the migrations and on first start). It lives in
 * node_modules/.cache/latchkey/, keyed by the PGlite version, so reinstalling or upgrading PGlite
 * makes a new one. Without a template (or when anything about it is off) PGlite runs initdb as
 * before. The copy is made beside DATA_DIR/pglite and renamed into place, so an interrupted copy
 * never looks like a database.
 */
import { constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Where the template for the installed PGlite lives (same path from src/ and dist/). */
export function pgliteTemplateDir(): string {
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
  return path.join(repoRoot, 'node_modules', '.cache', 'latchkey', `pglite-${pgliteVersion()}`);
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
    await db.query('SELECT 1');
    await db.close();
    if (!existsSync(path.join(staging, 'pgdata', 'PG_VERSION'))) throw new Error('PGlite created no database');
    writeFileSync(path.join(staging, READY), `PGlite ${pgliteVersion()}, made ${new Date().toISOString()}\n`);
    try {
      renameSync(staging, dir);
    } catch (error) {
      // A concurrent build finished first: keep its template.
      if (!existsSync(path.join(dir, READY))) throw error;
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
    // Asynchronous, so the server's modules keep loading meanwhile; a copy-on-write clone where
    // the file system supports it.
    await cp(template, staging, { recursive: true, errorOnExist: true, force: false, mode: constants.COPYFILE_FICLONE });
    if (existsSync(pgdata)) rmdirSync(pgdata);
    renameSync(staging, pgdata);
    return true;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
