/**
 * `npm run bench -- --admin-scale`: issue 14's scale target for the operator pages — the users
 * search and the audit page each answer in under 100 ms with 100,000 users and 1,000,000 audit
 * events. A benchmark, not a test: it prints figures and never fails on them.
 *
 * It starts the real server (embedded PGlite; with --postgres also a throwaway PostgreSQL server,
 * or BENCH_DATABASE_URL), seeds the rows with `generate_series` (for PGlite the server is
 * stopped while the bench process opens its data directory, then started again), ANALYZEs, and
 * times the admin API over HTTP with the ADMIN_API_TOKEN bearer, one request at a time:
 *   users:  e-mail prefix search (first page; a later page by cursor; no query at all)
 *   audit:  unfiltered first page, by type, by type prefix, by user, by app, by address,
 *           a time window (since and until), a later page by cursor
 * each run --runs times after --warmup untimed runs, printing median and p95 in ms.
 *
 *   npm run bench -- --admin-scale [--postgres] [--runs 30] [--warmup 5] [--users 100000] [--events 1000000]
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { startPostgres, type PostgresServer } from '../support/postgres.ts';

const TARGET_MS = 100;

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    'admin-scale': { type: 'boolean', default: true },
    postgres: { type: 'boolean', default: false },
    runs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    users: { type: 'string', default: '100000' },
    events: { type: 'string', default: '1000000' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log('npm run bench -- --admin-scale [--postgres] [--runs <n>] [--warmup <n>] [--users <n>] [--events <n>]\n  BENCH_DATABASE_URL=postgres://… uses that PostgreSQL server');
  process.exit(0);
}
const runs = Number(flags.runs);
const warmup = Number(flags.warmup);
const userCount = Number(flags.users);
const eventCount = Number(flags.events);
if (![runs, userCount, eventCount].every((n) => Number.isInteger(n) && n > 0) || !(Number.isInteger(warmup) && warmup >= 0)) {
  console.error('--runs, --users and --events take positive whole numbers, --warmup a whole number');
  process.exit(2);
}

const log = (line = '') => console.log(line);
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** Anything that runs SQL: the bench's own PGlite handle or a pg client. */
type Exec = (sql: string) => Promise<Array<Record<string, unknown>>>;

/** Apps and addresses the seeded events name; a few apps and many addresses, as in real traffic. */
const APPS = 20;
const ADDRESSES = 5000;

/**
 * Users `user000001@example.com` … with a few other domains mixed in; events spread over the last
 * 30 days, newest with the highest id (as the recorder writes them), types in realistic shares:
 * mostly tokens, some sign-ins, a few failures and admin actions.
 */
function seedStatements(users: number, events: number): string[] {
  return [
    `INSERT INTO "user" (id, email, password_hash, roles, created_at, updated_at)
     SELECT 'bench-user-' || i,
            'user' || lpad(i::text, 6, '0') || '@' || (ARRAY['example.com', 'example.org', 'mail.example', 'corp.example'])[1 + i % 4],
            '$argon2id$v=19$m=19456,t=2,p=1$bm90IGEgcmVhbCBoYXNo$bm90IGEgcmVhbCBoYXNoIGVpdGhlcg',
            CASE WHEN i % 5000 = 0 THEN ARRAY['admin'] ELSE ARRAY[]::text[] END,
            now() - (i || ' seconds')::interval, now()
     FROM generate_series(1, ${users}) AS i`,
    `INSERT INTO audit_event (at, type, actor, user_id, client_id, ip, user_agent, request_id, details)
     SELECT now() - ((${events} - i) * (30 * 86400.0 / ${events}) || ' seconds')::interval,
            t.type,
            CASE WHEN t.type LIKE 'admin.%' THEN 'bench-user-5000' END,
            CASE WHEN t.type <> 'admin.client.suspend' THEN 'bench-user-' || (1 + (i::bigint * 7919) % ${users}) END,
            'bench-app-' || (i % ${APPS}),
            '10.' || ((i % ${ADDRESSES}) / 250) || '.' || ((i % ${ADDRESSES}) % 250) || '.1',
            'Mozilla/5.0 (bench)',
            md5(i::text),
            CASE WHEN t.type = 'token.issued' THEN jsonb_build_object('grantType', 'client_credentials', 'audience', 'https://bench.example') ELSE '{}'::jsonb END
     FROM generate_series(1, ${events}) AS i
     CROSS JOIN LATERAL (SELECT CASE
         WHEN i % 100 < 70 THEN 'token.issued'
         WHEN i % 100 < 85 THEN 'signin.success'
         WHEN i % 100 < 93 THEN 'signin.failure'
         WHEN i % 100 < 96 THEN 'token.refresh'
         WHEN i % 100 < 98 THEN 'signin.mfa.failure'
         WHEN i % 100 < 99 THEN 'signin.throttled'
         ELSE 'admin.client.suspend' END AS type) AS t`,
    'ANALYZE "user"',
    'ANALYZE audit_event',
  ];
}

/**
 * The audit table's secondary indexes are dropped for the bulk insert and created again from
 * their own definitions afterwards (several times faster than maintaining nine indexes row by
 * row); the schema the server then reads is the migrated one.
 */
export async function seed(exec: Exec): Promise<number> {
  const t0 = performance.now();
  const indexes = (await exec("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_event' AND indexname <> 'audit_event_pkey'")) as Array<{
    indexname: string;
    indexdef: string;
  }>;
  for (const index of indexes) await exec(`DROP INDEX "${index.indexname}"`);
  for (const statement of seedStatements(userCount, eventCount)) await exec(statement);
  for (const index of indexes) await exec(index.indexdef);
  await exec('ANALYZE audit_event');
  return performance.now() - t0;
}

/** PGlite belongs to the server process: stop it, seed its data directory here, start it again. */
async function seedPglite(latchkey: Latchkey): Promise<number> {
  await latchkey.pause();
  const db = await PGlite.create(path.join(latchkey.env.DATA_DIR!, 'pglite'));
  try {
    return await seed(async (sql) => (await db.query<Record<string, unknown>>(sql)).rows);
  } finally {
    await db.close();
    await latchkey.resume();
  }
}

export async function seedPostgres(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await seed(async (sql) => (await client.query(sql)).rows);
  } finally {
    await client.end();
  }
}

interface Timing {
  name: string;
  median: number;
  p95: number;
  rows: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

/** Times GET `url` `runs` times (after `warmup` untimed ones), checking each answer is a 200 with rows. */
async function time(name: string, url: string, token: string, rowsOf: (body: any) => number): Promise<Timing> {
  const once = async () => {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    const body = await res.json();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${name}: ${res.status} ${JSON.stringify(body)}`);
    const rows = rowsOf(body);
    if (!rows) throw new Error(`${name}: no rows in ${JSON.stringify(body).slice(0, 300)}`);
    return { ms, rows };
  };
  for (let i = 0; i < warmup; i++) await once();
  const samples: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const r = await once();
    samples.push(r.ms);
    rows = r.rows;
  }
  samples.sort((a, b) => a - b);
  return { name, median: quantile(samples, 0.5), p95: quantile(samples, 0.95), rows };
}

async function measure(latchkey: Latchkey, token: string): Promise<Timing[]> {
  const base = `${latchkey.issuer}/admin/api`;
  const get = async (url: string) => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const users = (body: any) => body.users.length;
  const events = (body: any) => body.events.length;
  // Prefixes of the seeded addresses (user000001@…): one matching ~1 % of the users, one a few.
  const digits = (n: number) => String(n).padStart(6, '0');
  const wide = `user${digits(Math.floor(userCount / 2)).slice(0, 4)}`;
  const narrow = `user${digits(userCount).slice(0, 5)}`;
  // A later page: a cursor (the last e-mail of a page) from a real answer, well into the prefix.
  const widePage = (await get(`${base}/users?query=${wide}&limit=200`)).users as Array<{ email: string }>;
  const laterUserCursor = widePage[Math.floor(widePage.length / 2)]!.email;
  const firstAudit = await get(`${base}/security/audit?limit=50`);
  // Half-way back in time: cursors are opaque to clients, `<ms>-<id>` to the server; id 0 = before any event of that millisecond.
  const middleCursor = `${Date.now() - 15 * 86_400_000}-0`;
  const someUser = firstAudit.events.find((e: any) => e.userId)?.userId as string;
  const until = new Date(Date.now() - 10 * 86_400_000).toISOString();
  const since = new Date(Date.now() - 11 * 86_400_000).toISOString();
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

  const timings: Timing[] = [];
  const add = async (name: string, url: string, rowsOf: (body: any) => number) => {
    const t = await time(name, url, token, rowsOf);
    timings.push(t);
    log(`  ${name.padEnd(58)} median ${fmt(t.median).padStart(6)} ms  p95 ${fmt(t.p95).padStart(6)} ms  (${t.rows} rows)`);
  };
  await add(`users: e-mail prefix "${wide}", first page`, `${base}/users?${q({ query: wide, limit: '50' })}`, users);
  await add(`users: e-mail prefix "${wide}", a later page (cursor)`, `${base}/users?${q({ query: wide, limit: '50', cursor: laterUserCursor })}`, users);
  await add(`users: e-mail prefix "${narrow}", first page (few matches)`, `${base}/users?${q({ query: narrow, limit: '50' })}`, users);
  await add('users: no query, first page', `${base}/users?${q({ limit: '50' })}`, users);
  await add('audit: unfiltered, first page', `${base}/security/audit?${q({ limit: '50' })}`, events);
  await add('audit: unfiltered, a page half-way back (cursor)', `${base}/security/audit?${q({ limit: '50', cursor: middleCursor })}`, events);
  await add('audit: type signin.failure, first page', `${base}/security/audit?${q({ type: 'signin.failure', limit: '50' })}`, events);
  await add('audit: type admin.client.suspend (1 %), page half-way back', `${base}/security/audit?${q({ type: 'admin.client.suspend', limit: '50', cursor: middleCursor })}`, events);
  await add('audit: type prefix signin.*, first page', `${base}/security/audit?${q({ type: 'signin.*', limit: '50' })}`, events);
  await add('audit: by user, first page', `${base}/security/audit?${q({ user: someUser, limit: '50' })}`, events);
  await add('audit: by app, first page', `${base}/security/audit?${q({ client: 'bench-app-7', limit: '50' })}`, events);
  await add('audit: by address, first page', `${base}/security/audit?${q({ ip: '10.3.17.1', limit: '50' })}`, events);
  await add('audit: window of one day 10 days ago (since, until)', `${base}/security/audit?${q({ since, until, limit: '50' })}`, events);
  await add('audit: that window, type signin.failure', `${base}/security/audit?${q({ since, until, type: 'signin.failure', limit: '50' })}`, events);
  return timings;
}

async function main() {
  const started = Date.now();
  const wantPostgres = flags.postgres || Boolean(process.env.BENCH_DATABASE_URL);
  let pgServer: PostgresServer | undefined;
  if (wantPostgres) {
    if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
    else process.env.TEST_DATABASE_URL = (pgServer = await startPostgres()).url;
  } else delete process.env.TEST_DATABASE_URL;
  const token = randomBytes(32).toString('base64url');
  let latchkey: Latchkey | undefined;
  try {
    latchkey = await startLatchkey({ ADMIN_API_TOKEN: token, LOG_LEVEL: 'warn' });
    log(`Latchkey admin-scale benchmark — ${new Date().toISOString()}`);
    log(`storage: ${wantPostgres ? 'PostgreSQL (throwaway server on 127.0.0.1, fsync on)' : 'embedded PGlite (in the server process)'}; node ${process.version}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const seedMs = latchkey.env.DATABASE_URL ? await seedPostgres(latchkey.env.DATABASE_URL) : await seedPglite(latchkey);
    log(`seeded ${userCount.toLocaleString('en')} users and ${eventCount.toLocaleString('en')} audit events with generate_series in ${fmt(seedMs / 1000)} s, then ANALYZE`);
    log(`timing the admin API over HTTP (ADMIN_API_TOKEN bearer), one request at a time: ${warmup} untimed + ${runs} timed runs each`);
    const timings = await measure(latchkey, token);
    const worst = timings.reduce((a, b) => (b.p95 > a.p95 ? b : a));
    log();
    log(`target: each under ${TARGET_MS} ms — slowest p95 ${fmt(worst.p95)} ms (${worst.name}): ${worst.p95 < TARGET_MS ? 'PASS' : 'MISS'}`);
  } finally {
    await latchkey?.stop();
    await pgServer?.stop();
  }
  log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Run by test/bench/run.ts when `npm run bench` is given --admin-scale. */
export const adminScaleBenchmark = main;
