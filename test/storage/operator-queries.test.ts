/**
 * What the operator console reads and edits, as library calls against a migrated database (PGlite,
 * or TEST_DATABASE_URL: test-database.ts), with known rows and known answers: the app list's
 * filters, search and paging (src/clients/client-list.ts), the audit search's filters, its user
 * merge and paging (src/security/audit-log.ts), the dashboard figures
 * (src/security/audit-figures.ts) and an API's name and token lifetime (src/apis/api-registry.ts).
 * The console's pages are tested in Chromium on the embedded database (test/e2e/console.test.ts);
 * these are the same statements on both databases, so npm test's SQL comparison
 * (test/support/sql-coverage.ts) sees them run on PostgreSQL too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { updateApi } from '../../src/apis/api-registry.ts';
import { listClientsPage } from '../../src/clients/client-list.ts';
import { metadataForType } from '../../src/clients/client-rules.ts';
import { dashboardFigures } from '../../src/security/audit-figures.ts';
import { auditRow, insertAuditRows, queryAudit } from '../../src/security/audit-log.ts';
import { SecurityEvents } from '../../src/security/security-events.ts';
import type { SecurityEvent } from '../../src/security/security-events.ts';
import type { Database } from '../../src/storage/database.ts';
import { openedDatabase } from './test-database.ts';

let db: Database;
let close: () => Promise<void>;
const unique = () => randomBytes(4).toString('hex');
const quietLogger = { warn() {}, error() {} } as never;

before(async () => ({ db, close } = await openedDatabase('operator_queries')));
after(async () => close?.());

async function newApi(audience: string, name: string, scopes: { name: string; machine?: boolean }[]) {
  const id = `api-${unique()}`;
  await db.prisma.api.create({
    data: { id, name, audience, scopes: { create: scopes.map((s) => ({ id: `scope-${unique()}`, name: s.name, access: 'read', machine: s.machine ?? false })) } },
  });
  return db.prisma.api.findUniqueOrThrow({ where: { id }, include: { scopes: true } });
}

describe('the app list (console Apps page)', () => {
  const made: Record<string, string> = {};
  before(async () => {
    const owner = await db.prisma.user.create({ data: { id: `user-${unique()}`, email: `owner-${unique()}@example.com`, passwordHash: 'x' } });
    const api = await newApi(`https://list-${unique()}.example.com`, 'Payroll', [{ name: `payroll${unique()}:read`, machine: true }]);
    const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 12, minutes));
    const apps = [
      { key: 'active', name: 'Alpha Reports', type: 'web', createdAt: at(1) },
      { key: 'pending', name: 'Beta Mobile', type: 'native', createdAt: at(2), approvalPending: true },
      { key: 'suspended', name: 'Gamma Widget', type: 'spa', createdAt: at(3), suspendedAt: at(30) },
      { key: 'machine', name: 'Delta Sync', type: 'service', createdAt: at(4), scopes: { create: [{ scopeId: api.scopes[0]!.id }] } },
    ];
    for (const { key, ...app } of apps) {
      const id = `${key}-${unique()}`;
      made[key] = id;
      await db.prisma.client.create({ data: { id, ownerId: owner.id, metadata: { ...metadataForType(app.type as never), client_id: id }, secretEncrypted: null, ...app } });
    }
  });

  test('each filter lists exactly its apps, with their status and owner', async () => {
    const ids = async (filter: Parameters<typeof listClientsPage>[1]['filter']) => (await listClientsPage({ db }, { filter })).clients.map((c) => c.client_id);
    assert.deepEqual(await ids('pending_approval'), [made.pending]);
    assert.deepEqual(await ids('suspended'), [made.suspended]);
    assert.deepEqual(await ids('machine_access_pending'), [made.machine]);
    const all = (await listClientsPage({ db }, {})).clients;
    assert.deepEqual(all.map((c) => c.client_id), [made.machine, made.suspended, made.pending, made.active], 'newest first');
    assert.deepEqual(all.map((c) => c.status), ['active', 'suspended', 'pending_approval', 'active']);
    assert.ok(all.every((c) => c.owner?.startsWith('owner-')));
  });

  test('search: part of the name in any case, or the exact id; LIKE characters are letters', async () => {
    const search = async (text: string) => (await listClientsPage({ db }, { search: text })).clients.map((c) => c.client_id);
    assert.deepEqual(await search('gamma wid'), [made.suspended]);
    assert.deepEqual(await search(made.active!), [made.active]);
    assert.deepEqual(await search('%'), []);
  });

  test('paging: two pages of two, no app twice, none left out', async () => {
    const first = await listClientsPage({ db }, { limit: 2 });
    assert.equal(first.clients.length, 2);
    assert.ok(first.next);
    const second = await listClientsPage({ db }, { limit: 2, cursor: first.next });
    assert.equal(second.next, undefined);
    assert.deepEqual([...first.clients, ...second.clients].map((c) => c.client_id), [made.machine, made.suspended, made.pending, made.active]);
  });
});

describe('the audit search', () => {
  const user = `user-${unique()}`;
  const other = `user-${unique()}`;
  const client = `client-${unique()}`;
  const base = Date.UTC(2026, 1, 1, 8, 0);
  const at = (minutes: number) => new Date(base + minutes * 60_000);
  before(async () => {
    const events: (SecurityEvent & { at: Date })[] = [
      { at: at(1), type: 'signin.success', userId: user, ip: '203.0.113.7' },
      { at: at(2), type: 'signin.failure', userId: user, ip: '203.0.113.7' },
      { at: at(3), type: 'token.issued', userId: user, clientId: client, ip: '198.51.100.2', details: { grantType: 'authorization_code' } },
      // an operator (the user) acting on another account: found by the user filter as the actor
      { at: at(4), type: 'user.disabled', actor: user, userId: other },
      { at: at(5), type: 'signin.success', userId: other, ip: '198.51.100.2' },
    ] as never;
    await insertAuditRows({ db, logger: quietLogger }, events.map(auditRow));
  });
  const types = (page: { events: { type: string }[] }) => page.events.map((e) => e.type);
  // (since alone, as the console asks: nothing in this database is newer than these events)
  const window = { since: at(0) };

  test('a type prefix, newest first; an exact type', async () => {
    assert.deepEqual(types(await queryAudit(db.prisma, { ...window, type: 'signin.*' })), ['signin.success', 'signin.failure', 'signin.success']);
    assert.deepEqual(types(await queryAudit(db.prisma, { ...window, type: 'signin.failure' })), ['signin.failure']);
  });

  test('by client, by address, since a time', async () => {
    assert.deepEqual(types(await queryAudit(db.prisma, { client })), ['token.issued']);
    assert.deepEqual(types(await queryAudit(db.prisma, { ip: '198.51.100.2' })), ['signin.success', 'token.issued']);
    assert.deepEqual(types(await queryAudit(db.prisma, { since: at(4) })), ['signin.success', 'user.disabled']);
  });

  test('a user: events about them and events they did, merged in time order', async () => {
    assert.deepEqual(types(await queryAudit(db.prisma, { user })), ['user.disabled', 'token.issued', 'signin.failure', 'signin.success']);
    assert.deepEqual(types(await queryAudit(db.prisma, { user: other })), ['signin.success', 'user.disabled']);
  });

  test('paging by cursor with a type prefix: every event once', async () => {
    const first = await queryAudit(db.prisma, { ...window, type: 'signin.*', limit: 2 });
    assert.ok(first.next);
    const second = await queryAudit(db.prisma, { ...window, type: 'signin.*', limit: 2, cursor: first.next });
    assert.equal(second.next, undefined);
    assert.deepEqual([...first.events, ...second.events].map((e) => e.at), [at(5), at(2), at(1)].map((d) => d.toISOString()));
  });
});

describe('the dashboard figures', () => {
  test('totals, series, grant types, active users, top apps and APIs over the last hour', async () => {
    const { db: own, close: closeOwn } = await openedDatabase('dashboard_figures');
    try {
      const now = new Date(Date.UTC(2026, 2, 1, 12, 0));
      const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
      const api = await own.prisma.api.create({ data: { id: `api-${unique()}`, name: 'Notes', audience: 'https://notes.example.com' } });
      await own.prisma.client.create({ data: { id: 'app-one', name: 'App One', type: 'web', metadata: {}, secretEncrypted: null } });
      const events = [
        { at: ago(5), type: 'token.issued', clientId: 'app-one', userId: 'u1', details: { grantType: 'authorization_code', audience: api.audience } },
        { at: ago(6), type: 'token.issued', clientId: 'app-one', details: { grantType: 'client_credentials', audience: [api.audience] } },
        { at: ago(50), type: 'token.issued', clientId: 'app-gone', details: { grantType: 'client_credentials', audience: 'https://other.example.com' } },
        { at: ago(7), type: 'signin.success', userId: 'u2' },
        { at: ago(8), type: 'oauth.throttled', details: { count: 5 } },
        // outside the window
        { at: ago(61), type: 'token.issued', clientId: 'app-one', userId: 'u3', details: { grantType: 'refresh_token' } },
      ] as never as (SecurityEvent & { at: Date })[];
      await insertAuditRows({ db: own, logger: quietLogger }, events.map(auditRow));

      const figures = await dashboardFigures({ db: own }, '1h', now);
      assert.equal(figures.totals['token.issued'], 3);
      assert.equal(figures.totals['signin.success'], 1);
      assert.equal(figures.totals['oauth.throttled'], 5, 'a throttled event counts as its details.count');
      assert.equal(figures.series['token.issued'].reduce((a, b) => a + b, 0), 3);
      assert.equal(figures.series['token.issued'].length, 12);
      assert.deepEqual(figures.tokensByGrantType, [{ label: 'client_credentials', value: 2 }, { label: 'authorization_code', value: 1 }]);
      assert.equal(figures.activeUsers, 2);
      assert.deepEqual(figures.topApps, [{ label: 'App One', id: 'app-one', value: 2 }, { label: 'app-gone', id: 'app-gone', value: 1 }]);
      assert.deepEqual(figures.topApis, [
        { label: 'Notes', id: api.audience, value: 2 },
        { label: 'https://other.example.com', id: 'https://other.example.com', value: 1 },
      ]);
    } finally {
      await closeOwn();
    }
  });
});

test("an API's name and token lifetime change together; a lifetime out of range changes nothing", async () => {
  const api = await newApi(`https://edit-${unique()}.example.com`, 'Old name', [{ name: `edit${unique()}:read` }]);
  const events = new SecurityEvents();
  await updateApi({ db, events }, { audience: api.audience, name: 'New name', accessTokenTtl: 900 });
  const changed = await db.prisma.api.findUniqueOrThrow({ where: { id: api.id } });
  assert.equal(changed.name, 'New name');
  assert.equal(changed.accessTokenTtl, 900);
  await assert.rejects(updateApi({ db, events }, { audience: api.audience, name: 'Other', accessTokenTtl: 5 }), /30 to 86400/);
  assert.equal((await db.prisma.api.findUniqueOrThrow({ where: { id: api.id } })).name, 'New name');
});
