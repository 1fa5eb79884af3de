/**
 * Several instances on one PostgreSQL behind a load balancer behave as one server: a flow may
 * hop between them, key rotation on one reaches the other, and racing one code or refresh
 * token at both yields exactly one success. PostgreSQL only (the embedded database belongs
 * to one process).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { authorizeInBrowser, discover, redeem, startAppServer, oauthErrorOf } from '../support/flow.ts';
import { freePort, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { createDatabase, dropDatabase } from '../support/postgres.ts';
import { startProxy, type Proxy } from '../support/proxy.ts';

const PG = process.env.TEST_DATABASE_URL;
const NOTES = 'https://notes.example.com/api';
import { TEST_PASSWORD as password } from '../support/users.ts';

describe('two instances on one PostgreSQL', { skip: PG ? false : 'PostgreSQL only: the embedded database belongs to one process' }, () => {
  let databaseUrl: string;
  let proxy: Proxy;
  let instances: Latchkey[] = [];
  let browser: Browser;
  let app: Awaited<ReturnType<typeof startAppServer>>;
  let web: { client_id: string; client_secret: string };
  let svc: { client_id: string; client_secret: string };
  const user = { email: `scale-${randomBytes(3).toString('hex')}@example.com`, password };

  /** A relying-party configuration whose requests all go to one instance (or round-robin). */
  async function configFor(client: { client_id: string; client_secret: string }, instance?: number) {
    const config = await discover(proxy.origin, client.client_id, client.client_secret);
    if (instance !== undefined) {
      config[oidc.customFetch] = (url, options) =>
        fetch(url, { ...options, headers: { ...(options.headers as Record<string, string>), 'x-latchkey-instance': String(instance) } } as RequestInit);
    }
    return config;
  }

  async function jwksKids(instance: number): Promise<string[]> {
    const res = await fetch(`${proxy.origin}/jwks`, { headers: { 'x-latchkey-instance': String(instance) } });
    return ((await res.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  }

  before(async () => {
    databaseUrl = await createDatabase(PG!, `lk_scale_${randomBytes(4).toString('hex')}`);
    const ports = [await freePort(), await freePort()];
    proxy = await startProxy(ports);
    const shared = {
      DATABASE_URL: databaseUrl,
      ISSUER: proxy.origin,
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
    };
    for (const port of ports) instances.push(await startLatchkey({ ...shared, PORT: String(port) }));
    app = await startAppServer();
    browser = await launchBrowser();
    const cli = instances[0]!;
    await cli.operate(['user', 'create', '--email', user.email, '--password-stdin'], { stdin: password });
    await cli.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
    web = await cli.operate(['client', 'create', '--name', 'Web', '--redirect-uri', app.redirectUri, '--scope', 'openid offline_access notes:read notes:write']);
    svc = await cli.operate(['client', 'create', '--name', 'Svc', '--type', 'service', '--scope', 'notes:read']);
  });

  after(async () => {
    await browser?.close();
    for (const instance of instances) await instance.stop();
    await proxy?.close();
    await app?.close();
    if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
  });

  async function signInThroughTheBalancer(scope: string) {
    const context = await browser.newContext();
    try {
      const config = await configFor(web);
      const result = await authorizeInBrowser(await context.newPage(), config, { scope, resource: NOTES, prompt: 'consent' }, { login: user, consent: 'read-write' }, app.redirectUri);
      return result;
    } finally {
      await context.close();
    }
  }

  test('a flow hops between instances: pages round-robin, code redeemed on one, refreshed on the other', async () => {
    const before = [...proxy.hits];
    const result = await signInThroughTheBalancer('openid offline_access notes:read notes:write');
    assert.ok(proxy.hits[0]! > before[0]! && proxy.hits[1]! > before[1]!, 'both instances served the sign-in');
    const tokens = await redeem(await configFor(web, 1), result);
    const refreshed = await oidc.refreshTokenGrant(await configFor(web, 0), tokens.refresh_token!, { resource: NOTES });
    const jwks = createRemoteJWKSet(new URL(`${proxy.origin}/jwks`));
    const { payload } = await jwtVerify(refreshed.access_token, jwks, { issuer: proxy.origin, audience: NOTES });
    assert.equal(payload.scope, 'notes:read notes:write');
  });

  test('the same code raced at both instances: exactly one token set', async () => {
    const result = await signInThroughTheBalancer('openid notes:read');
    const outcomes = await Promise.allSettled([redeem(await configFor(web, 0), result), redeem(await configFor(web, 1), result)]);
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, JSON.stringify(outcomes.map((o) => o.status)));
    const failure = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    assert.equal(failure.reason.error, 'invalid_grant');
  });

  test('the same refresh token raced at both instances: exactly one success', async () => {
    const tokens = await redeem(await configFor(web, 0), await signInThroughTheBalancer('openid offline_access notes:read'));
    const rt = tokens.refresh_token!;
    const outcomes = await Promise.allSettled([
      oidc.refreshTokenGrant(await configFor(web, 0), rt, { resource: NOTES }),
      oidc.refreshTokenGrant(await configFor(web, 1), rt, { resource: NOTES }),
    ]);
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, JSON.stringify(outcomes.map((o) => (o.status === 'rejected' ? o.reason.error : 'ok'))));
  });

  test('keys rotated through one instance are used and published by the other within 2 s', async () => {
    const oldKids = await jwksKids(1);
    const rotation = await instances[0]!.operate<{ added: string[] }>(['keys', 'rotate', '--now']);
    const deadline = Date.now() + 2000;
    let published: string[] = [];
    while (Date.now() < deadline) {
      published = await jwksKids(1);
      if (rotation.added.every((kid) => published.includes(kid))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(rotation.added.every((kid) => published.includes(kid)), 'new keys published by the other instance');
    assert.ok(oldKids.every((kid) => published.includes(kid)), 'old keys stay published');
    for (const instance of [0, 1]) {
      const { access_token } = await oidc.clientCredentialsGrant(await configFor(svc, instance), { scope: 'notes:read', resource: NOTES });
      assert.ok(rotation.added.includes(decodeProtectedHeader(access_token).kid!), `instance ${instance} signs with the new key`);
    }
  });

  test('a client suspended through one instance is refused by the other within 2 s', async () => {
    const doomed = await instances[0]!.operate<{ client_id: string; client_secret: string }>(['client', 'create', '--name', 'Doomed', '--type', 'service', '--scope', 'notes:read']);
    const onOther = await configFor(doomed, 1);
    await oidc.clientCredentialsGrant(onOther, { scope: 'notes:read', resource: NOTES }); // the other instance now caches the client
    await instances[0]!.operate(['client', 'suspend', doomed.client_id]);
    const suspendedAt = Date.now();
    let refusedAfter: number | undefined;
    while (Date.now() - suspendedAt < 2000) {
      const outcome = await oidc.clientCredentialsGrant(onOther, { scope: 'notes:read', resource: NOTES }).then(() => 'ok', (err) => oauthErrorOf(err).error);
      if (outcome === 'invalid_client') {
        refusedAfter = Date.now() - suspendedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(refusedAfter !== undefined, 'the other instance still issued tokens 2 s after the suspension');
  });
});
