import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { Config } from '../config/config.ts';
import { PrismaClient } from './generated/client.ts';
import { restrictToOwner } from './data-dir.ts';
import { seedFromTemplate } from './pglite-template.ts';
import { sqlFromPglite, sqlFromPgPool, type SqlClient } from './sql.ts';
import { sqlTracer, tracedSql, type SqlTracer } from './sql-trace.ts';

export type Prisma = InstanceType<typeof PrismaClient>;

/**
 * One handle on the database, whichever it is: Prisma for ordinary reads and writes, raw SQL
 * for the hot path and migrations, and a change channel so caches in every instance drop
 * stale clients, APIs and keys.
 */
export interface Database {
  kind: 'pglite' | 'postgres';
  prisma: Prisma;
  sql: SqlClient;
  /**
   * Tell every instance (this one included) that `topic` changed. Resolves once this instance's
   * listeners have applied it (so `latchkey keys rotate` returns with the new keys in this
   * instance's JWKS); other instances hear it moments later.
   */
  notifyChange(topic: string): Promise<void>;
  /** Tell this instance only, e.g. when a time stored in the database (a key's activation) comes. */
  announceLocally(topic: string): void;
  /** A listener may return a promise: the work notifyChange waits for in this instance. */
  onChange(listener: ChangeListener): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'latchkey_changes';

type ChangeListener = (topic: string) => void | Promise<void>;

/**
 * This instance's listeners on the change channel. They are called at once, in order (a cache
 * drops its entry before the caller goes on); `emit` resolves when the promises they returned
 * have (a provider rebuilt with new keys).
 */
function localListeners() {
  const listeners = new Set<ChangeListener>();
  return {
    emit: async (topic: string): Promise<void> => {
      await Promise.all([...listeners].map((listener) => listener(topic)));
    },
    add(listener: ChangeListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

type DatabaseSettings = Pick<Config, 'databaseUrl' | 'dataDir' | 'databasePoolSize' | 'sqlTraceDir'>;

let early: { settings: DatabaseSettings; db: Promise<Database> } | undefined;

/**
 * Starts opening the database now, so that it opens while the rest of the server is still
 * loading (`latchkey serve`); the next openDatabase() with the same settings takes it over.
 */
export function startOpeningDatabase(config: DatabaseSettings): void {
  const settings = { databaseUrl: config.databaseUrl, dataDir: config.dataDir, databasePoolSize: config.databasePoolSize, sqlTraceDir: config.sqlTraceDir };
  const db = open(settings);
  // A failure is reported to whoever takes the handle over.
  db.catch(() => {});
  early = { settings, db };
}

export async function openDatabase(config: DatabaseSettings): Promise<Database> {
  if (early) {
    const { settings, db } = early;
    early = undefined;
    const same = settings.databaseUrl === config.databaseUrl && settings.dataDir === config.dataDir && settings.databasePoolSize === config.databasePoolSize && settings.sqlTraceDir === config.sqlTraceDir;
    if (same) return db;
    await db.then((opened) => opened.close()).catch(() => {});
  }
  return open(config);
}

function open(config: DatabaseSettings): Promise<Database> {
  const trace = config.sqlTraceDir ? sqlTracer(config.sqlTraceDir) : undefined;
  return config.databaseUrl ? openPostgres(config.databaseUrl, config.databasePoolSize, trace) : openPglite(config.dataDir, trace);
}

type PrismaAdapter = NonNullable<ConstructorParameters<typeof PrismaClient>[0]['adapter']>;

/** A Prisma client; with a tracer (SQL_TRACE_DIR), one that reports each statement's text. */
function prismaOver(adapter: PrismaAdapter, trace: SqlTracer | undefined): Prisma {
  if (!trace) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query', (event) => trace(event.query));
  return prisma as unknown as Prisma;
}

async function openPostgres(url: string, poolSize: number, trace: SqlTracer | undefined): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  const prisma = prismaOver(new PrismaPg(pool), trace);
  const local = localListeners();
  let listener: pg.Client | undefined;
  let closed = false;

  const listen = async () => {
    const client = new pg.Client({ connectionString: url });
    client.on('notification', (message) => {
      // Listeners report their own failures (a rejection here would have nobody to go to).
      local.emit(message.payload ?? '').catch(() => {});
    });
    client.on('error', () => {
      // Reconnect: a missed notification is covered by the caches' own TTL.
      if (!closed) setTimeout(() => listen().catch(() => {}), 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    listener = client;
  };
  await listen();

  return {
    kind: 'postgres',
    prisma,
    sql: tracedSql(sqlFromPgPool(pool), trace),
    async notifyChange(topic) {
      // This instance's caches drop the entry now: waiting for its own notification to come
      // back left a few milliseconds in which, say, a just-deleted client still worked here.
      // (Both awaited together: a failure of either is the caller's, never an unhandled rejection.)
      await Promise.all([local.emit(topic), pool.query('SELECT pg_notify($1, $2)', [CHANNEL, topic])]);
    },
    announceLocally(topic) {
      local.emit(topic).catch(() => {});
    },
    onChange: local.add,
    async close() {
      closed = true;
      await listener?.end().catch(() => {});
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/**
 * The embedded database belongs to one process. A pid file in DATA_DIR makes a second
 * opener fail with a clear message instead of corrupting the data directory; local tools
 * reach a running server through its control socket instead (src/admin/control-socket.ts).
 */
export class EmbeddedDatabaseBusyError extends Error {
  override name = 'EmbeddedDatabaseBusyError';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function takeOwnership(dataDir: string): () => void {
  // PGlite creates its files with mode 0666 less the umask, which is 0 in many containers: files
  // this process creates from now on are owner-only, and restrictToOwner fixes older ones.
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const lockFile = path.join(dataDir, 'pglite.pid');
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new EmbeddedDatabaseBusyError(`the embedded database in ${dataDir} is open in process ${pid}`);
    }
  }
  writeFileSync(lockFile, String(process.pid), { mode: 0o600 });
  return () => rmSync(lockFile, { force: true });
}

/**
 * PostgreSQL settings for the embedded database, on top of PGlite's own. initdb's
 * shared_buffers = 128MB lives inside the server process's WebAssembly memory and, once pages
 * were used, stays resident: 32 MB (4,096 pages) holds Latchkey's hot rows (live tokens,
 * clients, keys) and costs ~100 MB less RSS; the operating system's page cache still holds the
 * rest of the files. Durability settings are PGlite's, unchanged.
 */
const PGLITE_SETTINGS = ['-c', 'shared_buffers=32MB'];

async function openPglite(dataDir: string, trace: SqlTracer | undefined): Promise<Database> {
  const release = takeOwnership(dataDir);
  try {
    const pgdata = path.join(dataDir, 'pglite');
    // A new DATA_DIR starts from a copy of an empty database made at install time instead of
    // running initdb here (src/storage/pglite-template.ts); without a template PGlite runs initdb.
    await seedFromTemplate(pgdata);
    const db = await PGlite.create(pgdata, { startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] });
    // The files PGlite (or the template copy) just created: owner-only like the rest.
    restrictToOwner(dataDir);
    const prisma = prismaOver(new PrismaPGlite(db), trace);
    const local = localListeners();
    return {
      kind: 'pglite',
      prisma,
      sql: tracedSql(sqlFromPglite(db), trace),
      // One process owns the embedded database, so an in-process call reaches every cache.
      notifyChange: local.emit,
      announceLocally(topic) {
        local.emit(topic).catch(() => {});
      },
      onChange: local.add,
      async close() {
        await prisma.$disconnect();
        await db.close();
        release();
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}
