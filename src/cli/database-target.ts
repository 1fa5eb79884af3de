import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import { InputError } from '../errors.ts';

/**
 * Which database and issuer a CLI command works on, said in one line on stderr, and the refusal
 * to create an embedded database by accident: a command run from the wrong directory, or with
 * a mistyped DATA_DIR, would otherwise make a new, empty database there and write the user or
 * client into it, where no server ever looks. `latchkey serve` creates it (first start);
 * other commands need --init.
 */

/** The embedded database's folder inside DATA_DIR (storage/database.ts, openPglite). */
const embeddedDatabaseOf = (dataDir: string) => path.join(dataDir, 'pglite');

/** `postgresql://user@host:port/db`: the password is never shown. */
export function redactedDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    url.password = '';
    url.search = '';
    return url.href;
  } catch {
    return '(DATABASE_URL)';
  }
}

/** One line: where this command works, e.g. `DATA_DIR=/srv/latchkey/data (embedded database), ISSUER=https://login.example.com`. */
export function describeTarget(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'issuer'>): string {
  const database = config.databaseUrl ? `DATABASE_URL=${redactedDatabaseUrl(config.databaseUrl)}` : `DATA_DIR=${config.dataDir} (embedded database)`;
  return `${database}, ISSUER=${config.issuer}`;
}

/** Refuses to work on an embedded database that does not exist yet, unless --init asks for one. */
export function assertDatabaseExists(config: Pick<Config, 'databaseUrl' | 'dataDir'>, init: boolean): void {
  if (config.databaseUrl || init || existsSync(embeddedDatabaseOf(config.dataDir))) return;
  throw new InputError(
    `there is no database in DATA_DIR=${config.dataDir}; set DATA_DIR (or DATABASE_URL) to the server's, ` +
      'run `latchkey serve` once to create it, or pass --init to create a new one here',
  );
}
