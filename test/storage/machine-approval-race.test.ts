/**
 * An operator's machine approval and a change of the same app, interleaved (src/clients/
 * client-change.ts, machine-access.ts). The attacker is the app's developer, who times an edit
 * (portal, admin API or RFC 7592 update: all save through saveClientChange) against a pending
 * approval: the approval step reads the app, the edit drops a scope (or the client_credentials
 * grant) and commits, then the approval writes. The approval must not land on what the app no
 * longer asks for, and an approval that lands on nothing says so. Over HTTP the edit cannot be
 * forced between the approval's read and write, so this runs the library functions against a
 * migrated database (PGlite, or TEST_DATABASE_URL), the edit done inside the approval's read.
 * On PostgreSQL a last test overlaps them for real: the approval comes while the change's
 * transaction is still open.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { saveClientChange } from '../../src/clients/client-change.ts';
import { metadataForType } from '../../src/clients/client-rules.ts';
import { approveMachineAccess } from '../../src/clients/machine-access.ts';
import { ConflictError } from '../../src/errors.ts';
import { SecurityEvents } from '../../src/security/security-events.ts';
import type { Database } from '../../src/storage/database.ts';
import { waitFor } from '../support/wait.ts';
import { openedDatabase } from './test-database.ts';

const AUDIENCE = 'https://payroll.example.com/api';
let db: Database;
/** PostgreSQL only: the database, for a second connection of its own */
let postgresUrl: string | undefined;
let close: () => Promise<void>;
const scopeIds = { read: `scope-read-${randomBytes(3).toString('hex')}`, write: `scope-write-${randomBytes(3).toString('hex')}` };

before(async () => {
  ({ db, url: postgresUrl, close } = await openedDatabase('approval_race'));
  await db.prisma.api.create({
    data: {
      id: `api-${randomBytes(3).toString('hex')}`, name: 'Payroll', audience: AUDIENCE,
      scopes: { create: [{ id: scopeIds.read, name: 'payroll:read', access: 'read', machine: true }, { id: scopeIds.write, name: 'payroll:write', access: 'write', machine: true }] },
    },
  });
});
after(async () => close?.());

const serviceMetadata = (clientId: string) => ({ ...metadataForType('service'), client_id: clientId, scope: 'payroll:read payroll:write' });

/** A service app asking for both payroll scopes, none approved yet. */
async function pendingServiceApp(): Promise<string> {
  const id = `app-${randomBytes(4).toString('hex')}`;
  await db.prisma.client.create({
    data: { id, name: 'Payroll sync', type: 'service', metadata: serviceMetadata(id), secretEncrypted: null, createdVia: 'dcr', scopes: { create: [{ scopeId: scopeIds.read }, { scopeId: scopeIds.write }] } },
  });
  return id;
}

/** The database as the approval sees it: right after its read of the client, `between` runs (and commits) before it goes on. */
function withChangeAfterRead(between: () => Promise<void>): Database {
  const real = db.prisma;
  const client = new Proxy(real.client, {
    get(target, key) {
      if (key !== 'findUnique') return Reflect.get(target, key);
      return async (args: Parameters<typeof target.findUnique>[0]) => {
        const row = await target.findUnique(args);
        await between();
        return row;
      };
    },
  });
  const prisma = new Proxy(real, {
    get(target, key) {
      if (key === 'client') return client;
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...db, prisma };
}

/** The developer's change, saved the way every edit path saves it. */
const developerChange = (clientId: string, metadata: Record<string, unknown>, askedScopeIds: string[]) => () =>
  saveClientChange({ db, events: new SecurityEvents() }, clientId, { name: 'Payroll sync' }, { metadata, askedScopeIds, replaceScopes: true, actor: `client:${clientId}`, via: 'dcr' });

const approvedScopes = async (clientId: string) =>
  (await db.prisma.clientMachineScope.findMany({ where: { clientId }, include: { scope: true } })).map((a) => a.scope.name).sort();

test('a scope dropped between the approval\'s read and write is not approved; the scope kept is', async () => {
  const clientId = await pendingServiceApp();
  const events = new SecurityEvents();
  const seen: Array<{ type: string; details?: Record<string, unknown> }> = [];
  events.on((event) => seen.push(event));
  const dropWrite = developerChange(clientId, { ...serviceMetadata(clientId), scope: 'payroll:read' }, [scopeIds.read]);

  const answer = await approveMachineAccess({ db: withChangeAfterRead(dropWrite), events }, clientId, AUDIENCE, 'operator-1');
  assert.deepEqual(answer.approved, ['payroll:read']);
  assert.deepEqual(await approvedScopes(clientId), ['payroll:read'], 'payroll:write, dropped before the write, has no approval');
  assert.deepEqual(seen.map((e) => [e.type, e.details]), [['client.machine_access_approved', { audience: AUDIENCE, scopes: ['payroll:read'] }]]);

  // Asked for again, it waits for a new approval: the attacker's aim was an approval kept for later.
  await developerChange(clientId, serviceMetadata(clientId), [scopeIds.read, scopeIds.write])();
  assert.deepEqual(await approvedScopes(clientId), ['payroll:read']);
});

test('every scope dropped, or client_credentials dropped, between the read and the write: nothing approved, and the operator is told', async () => {
  const variants: Array<[string, (clientId: string) => () => Promise<void>]> = [
    ['no scope of the API asked for', (clientId) => developerChange(clientId, { ...serviceMetadata(clientId), scope: '' }, [])],
    [
      'turned into a web app, still asking for both scopes',
      (clientId) => developerChange(clientId, { ...metadataForType('web'), client_id: clientId, redirect_uris: ['https://payroll-sync.example.com/cb'], scope: 'payroll:read payroll:write' }, [scopeIds.read, scopeIds.write]),
    ],
  ];
  for (const [variant, change] of variants) {
    const clientId = await pendingServiceApp();
    const events = new SecurityEvents();
    const seen: string[] = [];
    events.on((event) => seen.push(event.type));
    await assert.rejects(approveMachineAccess({ db: withChangeAfterRead(change(clientId)), events }, clientId, AUDIENCE, 'operator-1'), (error: Error) => {
      assert.ok(error instanceof ConflictError, `${variant}: ${error.message}`);
      assert.match(error.message, /changed while you approved.*nothing was approved/);
      return true;
    });
    assert.deepEqual(await approvedScopes(clientId), [], variant);
    assert.deepEqual(seen, [], `${variant}: no approval audited`);
  }
});

test('PostgreSQL: an approval that comes while a change is still open waits for it, then sees it', { skip: !process.env.TEST_DATABASE_URL && 'PGlite has one connection: two transactions never overlap' }, async () => {
  const clientId = await pendingServiceApp();
  const change = new pg.Client({ connectionString: postgresUrl });
  await change.connect();
  try {
    // What saveClientChange runs for a change dropping payroll:write, its commit held back.
    await change.query('BEGIN');
    await change.query('SELECT id FROM client WHERE id = $1 FOR UPDATE', [clientId]);
    await change.query('DELETE FROM client_scope WHERE client_id = $1 AND scope_id = $2', [clientId, scopeIds.write]);
    await change.query('DELETE FROM client_machine_scope WHERE client_id = $1 AND scope_id <> ALL($2::text[])', [clientId, [scopeIds.read]]);

    let settled = false;
    const approving = approveMachineAccess({ db, events: new SecurityEvents() }, clientId, AUDIENCE, 'operator-1').finally(() => {
      settled = true;
    });
    approving.catch(() => {});
    // The approval either waits on the change's lock (as it must) or, without the lock, is done at once.
    await waitFor('the approval to wait for the change, or to finish', async () => {
      if (settled) return true;
      const { rows } = await change.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return rows[0].n > 0 || undefined;
    });
    await change.query('COMMIT');
    assert.deepEqual((await approving).approved, ['payroll:read']);
    assert.deepEqual(await approvedScopes(clientId), ['payroll:read'], 'payroll:write, dropped by the change, has no approval');
  } finally {
    await change.end();
  }
});
