/**
 * One writer per table (issue 12): every statement in src/ that changes a table is in that
 * table's declared queries module, so a question like "what changes a user row?" has one file
 * for an answer, and libraries reach tables only through it. The same map is in
 * docs/architecture.md ("Who writes each table"); this test also checks that the two agree.
 *
 * A write is found in a file's text (comments left out):
 *   - a Prisma delegate call: `.user.update(`, `.client.deleteMany(`, … (every write method);
 *   - a Prisma nested write inside one: `scopes: { create: … }` in `.client.create(` writes
 *     client_scope (the relation field's model, read from prisma/schema.prisma);
 *   - raw SQL: `INSERT INTO t`, `UPDATE t SET`, `DELETE FROM t`, `TRUNCATE t` (any case, the
 *     table quoted or not); a table named by interpolation (`DELETE FROM ${table}`) is reported
 *     as such, since the test cannot tell which table it is: spell the table out;
 *   - a table handed to a library that writes it (`tableName: 'rate_limit'`, rate-limiter-flexible).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const srcDir = path.join(root, 'src');

/**
 * Table → the files (under src/) that may write it. More than one file needs a reason.
 * Change docs/architecture.md ("Who writes each table") together with this.
 */
export const WRITERS: Record<string, { files: string[]; why?: string }> = {
  oidc_payload: {
    files: ['storage/oidc-adapter.ts', 'storage/refresh-rotation.ts', 'storage/ephemeral-store.ts', 'storage/payload-queries.ts'],
    why:
      "oidc-provider's adapter contract (oidc-adapter.ts, with refresh-rotation.ts, which does its rotation in one statement); " +
      "Latchkey's own short-lived records under model names oidc-provider never uses (ephemeral-store.ts); " +
      "what Latchkey ends or revokes of oidc-provider's rows itself: sessions, grants, tokens of a user or a client (payload-queries.ts)",
  },
  user: { files: ['accounts/user-queries.ts'] },
  email_token: { files: ['accounts/email-token-queries.ts'] },
  email_change: { files: ['accounts/email-change-queries.ts'] },
  session_device: { files: ['accounts/session-queries.ts'] },
  app_last_used: { files: ['accounts/app-last-used.ts'] },
  totp_factor: { files: ['accounts/factor-queries.ts'] },
  webauthn_credential: { files: ['accounts/factor-queries.ts'] },
  recovery_code: { files: ['accounts/factor-queries.ts'] },
  api: { files: ['apis/api-queries.ts'] },
  api_scope: { files: ['apis/api-queries.ts'] },
  client: { files: ['clients/client-queries.ts'] },
  client_scope: { files: ['clients/client-queries.ts'] },
  client_machine_scope: { files: ['clients/client-queries.ts'] },
  registration_token: { files: ['clients/registration-token-queries.ts'] },
  client_usage: { files: ['clients/usage.ts'] },
  signing_key: { files: ['keys/signing-keys.ts'] },
  secret: { files: ['keys/shared-secrets.ts'] },
  audit_event: { files: ['security/audit-log.ts'] },
  suspension: { files: ['security/suspensions.ts'] },
  rate_limit: { files: ['security/rate-limits.ts'] },
  second_factor_throttle: { files: ['security/second-factor-lockout.ts'] },
  token_status: { files: ['revocation/token-status.ts'] },
  /** Prisma's migration bookkeeping, not in the schema: only the migrator records what it applied. */
  _prisma_migrations: { files: ['storage/migrator.ts'] },
};

/** Tables that are not models of prisma/schema.prisma. */
const OUTSIDE_SCHEMA = new Set(['_prisma_migrations']);

// ---------------------------------------------------------------------------------------------
// The schema: each model's table, its Prisma delegate name, and its relation fields.

export interface Schema {
  /** delegate (`user`, `clientScope`) → table */
  delegates: Map<string, string>;
  /** model name → table */
  tables: Map<string, string>;
  /** model name → relation field → the related model */
  relations: Map<string, Map<string, string>>;
}

/** Pure: the models of a Prisma schema's text. */
export function readSchema(text: string): Schema {
  const blocks = [...text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)].map((m) => ({ name: m[1]!, body: m[2]! }));
  const models = new Set(blocks.map((b) => b.name));
  const schema: Schema = { delegates: new Map(), tables: new Map(), relations: new Map() };
  for (const { name, body } of blocks) {
    const table = /@@map\("([^"]+)"\)/.exec(body)?.[1] ?? name;
    schema.tables.set(name, table);
    schema.delegates.set(name[0]!.toLowerCase() + name.slice(1), table);
    const fields = new Map<string, string>();
    for (const line of body.split('\n')) {
      const field = /^\s*(\w+)\s+(\w+)(\[\])?\??(\s|$)/.exec(line);
      if (field && models.has(field[2]!)) fields.set(field[1]!, field[2]!);
    }
    schema.relations.set(name, fields);
  }
  return schema;
}

// ---------------------------------------------------------------------------------------------
// The writes in one file's text.

export interface Write {
  /** a table name, or `?` when it cannot be told (an interpolated name, an unknown relation) */
  table: string;
  /** what was found, as written (for the failure message) */
  how: string;
}

const DELEGATE_WRITES = 'create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert|delete|deleteMany';
const DELEGATE_CALL = new RegExp(`\\.(\\w+)\\s*\\.\\s*(${DELEGATE_WRITES})\\s*\\(`, 'g');
const NESTED_WRITE = /\b(\w+)\s*:\s*\{\s*(create|createMany|connectOrCreate|connect|disconnect|set|upsert|update|updateMany|delete|deleteMany)\s*:/g;
const SQL_WRITE = /\b(INSERT\s+INTO|UPDATE(?:\s+ONLY)?|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+(\$\{|"[^"]+"|(?!SET\b)[A-Za-z_][\w.]*)/gi;
const HANDED_TABLE = /\btableName\s*:\s*['"`](\w+)['"`]/g;

/** Pure: the text without comments (a `//` after a colon is a URL, not a comment). */
export function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:\\])\/\/.*$/gm, '$1');
}

/** Pure: every write to a table in a file's text. */
export function writesOf(source: string, schema: Schema): Write[] {
  const text = withoutComments(source);
  const found: Write[] = [];
  const delegateCalls: { index: number; model: string }[] = [];
  const modelOf = new Map([...schema.tables.keys()].map((model) => [model[0]!.toLowerCase() + model.slice(1), model]));
  for (const m of text.matchAll(DELEGATE_CALL)) {
    const table = schema.delegates.get(m[1]!);
    if (!table) continue;
    found.push({ table, how: m[0].slice(1, -1).replace(/\s+/g, '') });
    delegateCalls.push({ index: m.index!, model: modelOf.get(m[1]!)! });
  }
  for (const m of text.matchAll(NESTED_WRITE)) {
    // Inside the nearest delegate write before it: `scopes` of a Client is not `scopes` of an Api.
    const parent = delegateCalls.filter((c) => c.index < m.index!).at(-1);
    const related = parent && schema.relations.get(parent.model)?.get(m[1]!);
    if (related) found.push({ table: schema.tables.get(related)!, how: `${m[1]}: { ${m[2]} } in a ${parent.model} write` });
    else if ([...schema.relations.values()].some((fields) => fields.has(m[1]!))) found.push({ table: '?', how: `${m[1]}: { ${m[2]} } outside a known delegate write` });
  }
  for (const m of text.matchAll(SQL_WRITE)) {
    const keyword = m[1]!.replace(/\s+/g, ' ').toUpperCase();
    // UPDATE needs its SET: "FOR UPDATE" and "DO UPDATE SET" name no table.
    if (keyword.startsWith('UPDATE') && !/^\s*(?:(?:AS\s+)?\w+\s+)?SET\b/i.test(text.slice(m.index! + m[0].length))) continue;
    if (m[2] === '${') found.push({ table: '?', how: `${keyword} \${…} (a table named by interpolation)` });
    else found.push({ table: m[2]!.replace(/"/g, ''), how: `${keyword} ${m[2]}` });
  }
  for (const m of text.matchAll(HANDED_TABLE)) found.push({ table: m[1]!, how: `tableName: '${m[1]}'` });
  return found;
}

// ---------------------------------------------------------------------------------------------

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return full === path.join(srcDir, 'storage', 'generated') ? [] : sourceFiles(full);
    return /\.(ts|js)$/.test(entry.name) ? [full] : [];
  });
}

const schema = readSchema(readFileSync(path.join(root, 'prisma/schema.prisma'), 'utf8'));
const writes = sourceFiles(srcDir).flatMap((file) =>
  writesOf(readFileSync(file, 'utf8'), schema).map((w) => ({ ...w, file: path.relative(srcDir, file).split(path.sep).join('/') })),
);

test('every table of the schema has its declared writers, and every declared table exists', () => {
  const tables = new Set(schema.tables.values());
  assert.deepEqual([...tables].filter((t) => !WRITERS[t]), [], 'add these tables to WRITERS here and in docs/architecture.md');
  assert.deepEqual(Object.keys(WRITERS).filter((t) => !tables.has(t) && !OUTSIDE_SCHEMA.has(t)), [], 'no such table in prisma/schema.prisma');
  const unexplained = Object.entries(WRITERS).filter(([, w]) => w.files.length > 1 && !w.why).map(([t]) => t);
  assert.deepEqual(unexplained, [], 'a table with more than one writer says why');
});

test('every write to a table is in one of its declared writers', () => {
  const wrong = writes
    .filter((w) => !WRITERS[w.table]?.files.includes(w.file))
    .map((w) => `${w.file}: ${w.how} — ${WRITERS[w.table] ? `${w.table} is written by ${WRITERS[w.table]!.files.join(', ')}` : 'not a declared table'}`);
  assert.deepEqual(wrong, []);
});

test('every declared writer writes its table (the map names no stale file)', () => {
  const stale = Object.entries(WRITERS).flatMap(([table, { files }]) =>
    files.filter((file) => !writes.some((w) => w.table === table && w.file === file)).map((file) => `${file} does not write ${table}`),
  );
  assert.deepEqual(stale, []);
});

test('docs/architecture.md lists the same writers', () => {
  const doc = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
  const section = /^## Who writes each table\n([\s\S]*?)(?=^## )/m.exec(doc)?.[1] ?? '';
  const documented = new Map<string, string[]>();
  for (const row of section.matchAll(/^\|([^|\n]+)\|([^|\n]+)\|/gm)) {
    const files = [...row[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    for (const table of [...row[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)) documented.set(table, files.sort());
  }
  const declared = new Map(Object.entries(WRITERS).map(([table, w]) => [table, [...w.files].sort()]));
  assert.deepEqual(Object.fromEntries([...documented].sort()), Object.fromEntries([...declared].sort()));
});

test('writesOf finds delegate, nested, raw SQL and handed-over writes, and nothing in reads or comments', () => {
  const s = readSchema(`
model Client {
  id     String @id
  scopes ClientScope[]
  @@map("client")
}
model ClientScope {
  clientId String
  client   Client @relation(fields: [clientId], references: [id])
  @@map("client_scope")
}
model Api {
  id     String @id
  scopes ApiScope[]
  @@map("api")
}
model ApiScope {
  id String @id
  @@map("api_scope")
}
model User {
  id String @id
  @@map("user")
}`);
  const text = [
    "await prisma.client.create({ data: { id, scopes: { create: [{ scopeId }] } } });",
    "await tx.api.update({ where: { id }, data: { scopes: { create: [] } } });",
    "prisma.clientScope.deleteMany({ where: { clientId } });",
    "await prisma.user.findUnique({ where: { id } }); await prisma.client.findMany({ include: { scopes: { include: { scope: true } } } });",
    "await sql.query('UPDATE \"user\" SET email = $2 WHERE id = $1', [id, email]);",
    "await sql.query(`insert into client (id) values ($1) ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id`, [id]);",
    "await tx.query('SELECT id FROM \"user\" WHERE id = $1 FOR UPDATE', [id]);",
    "await tx.query(`WITH gone AS (DELETE FROM api WHERE id = $1 RETURNING 1) SELECT 1`);",
    "await tx.query(`DELETE FROM ${table} WHERE user_id = $1`, [id]);",
    "const limiter = new RateLimiterPostgres({ tableName: 'rate_limit' });",
    "// DELETE FROM user_notes (a comment)",
    "/* UPDATE api SET name = 'x' */ const url = 'https://example.com/'; // INSERT INTO nothing",
    "createHash('sha256').update(value); hmac.update(value);",
  ].join('\n');
  assert.deepEqual(
    writesOf(text, s).map((w) => `${w.table} ${w.how}`),
    [
      'client client.create',
      'api api.update',
      'client_scope clientScope.deleteMany',
      'client_scope scopes: { create } in a Client write',
      'api_scope scopes: { create } in a Api write',
      'user UPDATE "user"',
      'client INSERT INTO client',
      'api DELETE FROM api',
      '? DELETE FROM ${…} (a table named by interpolation)',
      'rate_limit tableName: \'rate_limit\'',
    ],
  );
});
