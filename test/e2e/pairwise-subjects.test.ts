/**
 * Identifiers apps cannot join (issue 13): pairwise subjects (OIDC Core §8.1) in ID tokens,
 * userinfo and access tokens; the public subject only for apps an operator marks first-party;
 * the API (resource-server kit) still knows the user behind any app's token; consent lists the
 * claims the app receives and `email` comes only with the `email` scope. The sign-ins are
 * plain HTTP through Latchkey's own login and consent pages, so the apps' redirect URIs can
 * name real hosts (the sector of a pairwise subject) without anything listening there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { startNotesApi } from '../../examples/notes-api/app.ts';
import { basic, csrfOf, FORM, Jar, sender, type Sent } from '../support/http-session.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { createTestUser, TEST_PASSWORD as PASSWORD } from '../support/users.ts';
import { waitFor } from '../support/wait.ts';

const NOTES = 'https://notes.example.com/api';
const OPAQUE = 'https://opaque.example.com/api';

interface App { client_id: string; client_secret?: string; redirect_uri: string }
interface ApiCredentials { introspection_client_id: string; introspection_client_secret: string }
interface Tokens { access_token: string; id_token: string; consentPage?: string }

let latchkey: Latchkey;
let send: ReturnType<typeof sender>;
let notesCredentials: ApiCredentials;
let opaqueCredentials: ApiCredentials;
const users: Record<'alice' | 'bob', { id: string; email: string }> = {} as never;
const apps: Record<string, App> = {};
let notesApi: Awaited<ReturnType<typeof startNotesApi>>;
let notesApiWithoutIntrospection: Awaited<ReturnType<typeof startNotesApi>>;

async function createApp(name: string, redirectUris: string[], extra: string[] = []): Promise<App> {
  const args = ['client', 'create', '--name', name, '--scope', 'openid email profile notes:read notes:write onotes:read', ...extra];
  for (const uri of redirectUris) args.push('--redirect-uri', uri);
  const created = await latchkey.operate<{ client_id: string; client_secret?: string }>(args);
  return { ...created, redirect_uri: redirectUris[0]! };
}

/**
 * A user signs in to `app` and allows what it asks (read and write for an API), through the
 * real pages, then the app redeems the code. A new cookie jar each time: a fresh browser.
 */
async function signIn(app: App, user: { email: string }, params: { scope: string; resource?: string }): Promise<Tokens> {
  const jar = new Jar();
  const verifier = oidc.randomPKCECodeVerifier();
  const query = new URLSearchParams({
    client_id: app.client_id,
    response_type: 'code',
    scope: params.scope,
    redirect_uri: app.redirect_uri,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    ...(params.resource ? { resource: params.resource } : {}),
  });
  let response: Sent = await send(`/auth?${query}`, { jar });
  let consentPage: string | undefined;
  for (let hop = 0; hop < 12; hop++) {
    assert.ok([302, 303].includes(response.status), `hop ${hop} (${app.redirect_uri}): ${response.status} ${/<p[^>]*>([^<]*)<\/p>/.exec(response.text)?.[1] ?? response.text.slice(0, 300)}`);
    const location = new URL(response.headers.get('location')!, latchkey.issuer);
    if (location.href.startsWith(app.redirect_uri)) {
      const code = location.searchParams.get('code');
      assert.ok(code, `no code: ${location.href}`);
      const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: app.redirect_uri, code_verifier: verifier, ...(params.resource ? { resource: params.resource } : {}) });
      const headers: Record<string, string> = { 'content-type': FORM };
      if (app.client_secret) headers.authorization = basic(app.client_id, app.client_secret);
      else body.set('client_id', app.client_id);
      const token = await send('/token', { method: 'POST', headers, body: body.toString() });
      assert.equal(token.status, 200, token.text);
      return { ...(JSON.parse(token.text) as Tokens), consentPage };
    }
    const path = location.pathname + location.search;
    if (!path.startsWith('/interaction/')) {
      response = await send(path, { jar });
      continue;
    }
    const page = await send(path, { jar });
    assert.equal(page.status, 200, page.text.slice(0, 300));
    const fields: Record<string, string> = { csrf: csrfOf(page.text) };
    let action: string;
    if (page.text.includes('name="password"')) {
      Object.assign(fields, { email: user.email, password: PASSWORD });
      action = `${location.pathname}/login`;
    } else {
      assert.match(page.text, /wants access to your account/, 'the consent page');
      consentPage = page.text;
      for (const [, name] of page.text.matchAll(/name="(access:[^"]+)" value="read-write"/g)) fields[name!] = 'read-write';
      fields.decision = 'allow';
      action = `${location.pathname}/confirm`;
    }
    response = await send(action, { method: 'POST', jar, headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString() });
  }
  throw new Error('the sign-in did not reach the app');
}

const subOf = (jwt: string) => decodeJwt(jwt).sub as string;

async function userinfo(accessToken: string): Promise<Record<string, unknown>> {
  const res = await send('/me', { headers: { authorization: `Bearer ${accessToken}` } });
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text);
}

async function introspect(caller: { id: string; secret: string }, token: string): Promise<Record<string, unknown>> {
  const res = await send('/token/introspection', { method: 'POST', headers: { 'content-type': FORM, authorization: basic(caller.id, caller.secret) }, body: new URLSearchParams({ token }).toString() });
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text);
}

const asApi = (c: ApiCredentials) => ({ id: c.introspection_client_id, secret: c.introspection_client_secret });
const asApp = (app: App) => ({ id: app.client_id, secret: app.client_secret! });

/** Every string anywhere in a token's claims, to check none of them is an identifier another party sees. */
const stringsIn = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : value && typeof value === 'object' ? Object.values(value).flatMap(stringsIn) : [];

const notes = (origin: string, token: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${origin}/notes`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });

before(async () => {
  // Many sign-ins of the same two users from one address: the sign-in limits are raised (they still run).
  latchkey = await startLatchkey({ RATE_LIMIT_SIGNIN_IP: '1000/60', RATE_LIMIT_SIGNIN_ACCOUNT: '1000/60' });
  send = sender(latchkey.issuer);
  // The APIs first (the apps ask for their scopes), then users and apps at once: each is a CLI process.
  [notesCredentials, opaqueCredentials] = await Promise.all([
    latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write']),
    latchkey.operate(['api', 'create', '--name', 'Opaque', '--audience', OPAQUE, '--token-format', 'opaque', '--scope', 'onotes:read=read']),
  ]);
  [users.alice, users.bob, apps.a, apps.a2, apps.b, apps.squatter, apps.native1, apps.native2, apps.own] = await Promise.all([
    createTestUser(latchkey, 'alice'),
    createTestUser(latchkey, 'bob'),
    createApp('App A', ['https://a.example/callback']),
    createApp('App A, second app on the same host', ['https://a.example/elsewhere/callback']),
    createApp('App B', ['https://b.example/callback']),
    // Lists App B's host beside its own: it must not get App B's subjects (codes would reach it at its own host).
    createApp('Squatter', ['https://evil.example/callback', 'https://b.example/callback']),
    createApp('Native 1', ['http://127.0.0.1/callback'], ['--type', 'native']),
    createApp('Native 2', ['http://127.0.0.1/callback'], ['--type', 'native']),
    createApp('Intranet', ['https://intranet.example/callback'], ['--first-party']),
  ]);
  notesApi = await startNotesApi({
    issuer: latchkey.issuer,
    audience: NOTES,
    introspection: { clientId: notesCredentials.introspection_client_id, clientSecret: notesCredentials.introspection_client_secret },
  });
  notesApiWithoutIntrospection = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES });
});

after(async () => {
  await notesApi?.close();
  await notesApiWithoutIntrospection?.close();
  await latchkey?.stop();
});

describe('pairwise subjects in ID tokens and userinfo', () => {
  test('two apps, same user: different subs, neither the account id; the same app twice: the same sub', async () => {
    const alice = users.alice;
    const a = await signIn(apps.a!, alice, { scope: 'openid email' });
    const b = await signIn(apps.b!, alice, { scope: 'openid email' });
    const again = await signIn(apps.a!, alice, { scope: 'openid email' });
    const [subA, subB] = [subOf(a.id_token), subOf(b.id_token)];
    assert.notEqual(subA, subB);
    assert.notEqual(subA, alice.id);
    assert.notEqual(subB, alice.id);
    assert.equal(subOf(again.id_token), subA, 'stable for the app');
    assert.equal((await userinfo(a.access_token)).sub, subA, 'userinfo agrees with the ID token');
    assert.equal((await userinfo(b.access_token)).sub, subB);
    const bob = await signIn(apps.a!, users.bob, { scope: 'openid' });
    assert.notEqual(subOf(bob.id_token), subA, 'another user, another sub');
    const discovery = JSON.parse((await send('/.well-known/openid-configuration')).text);
    assert.deepEqual([...discovery.subject_types_supported].sort(), ['pairwise', 'public']);
  });

  test('the sector is the redirect host: apps on one host share it; listing another host or loopback does not', async () => {
    const alice = users.alice;
    const sub = async (app: App) => subOf((await signIn(app, alice, { scope: 'openid' })).id_token);
    const [a, a2, b, squatter, native1, native2] = [
      await sub(apps.a!), await sub(apps.a2!), await sub(apps.b!), await sub(apps.squatter!), await sub(apps.native1!), await sub(apps.native2!),
    ];
    assert.equal(a2, a, 'same host, same sector');
    assert.notEqual(squatter, b, "an app listing b.example beside its own host does not get b.example's subjects");
    assert.notEqual(native1, native2, 'loopback redirect URIs identify nobody: each app is its own sector');
    assert.equal(new Set([a, b, squatter, native1, native2]).size, 5);
  });

  test('a first-party app gets the public subject (the account id); only the CLI can mark one', async () => {
    const own = await signIn(apps.own!, users.alice, { scope: 'openid' });
    assert.equal(subOf(own.id_token), users.alice.id);
    assert.equal((await latchkey.cliJson(['client', 'show', apps.own!.client_id])).first_party, true);
    assert.equal((await latchkey.cliJson(['client', 'show', apps.a!.client_id])).first_party, false);
    const service = await latchkey.cli(['client', 'create', '--name', 'Job', '--type', 'service', '--scope', 'notes:read', '--first-party', '--json']);
    assert.notEqual(service.code, 0, 'a service app has no users to be first-party for');
    assert.match(service.stderr + service.stdout, /first-party/);

    // Dynamic Client Registration: never first-party; asking for the public subject is refused.
    const iat = (await latchkey.operate(['registration-token', 'create'])).initial_access_token as string;
    const register = (metadata: Record<string, unknown>) =>
      send('/reg', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` }, body: JSON.stringify(metadata) });
    const metadata = { client_name: 'Registered', redirect_uris: ['https://reg.example/callback'], grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid' };
    const publicAsked = await register({ ...metadata, subject_type: 'public' });
    assert.equal(publicAsked.status, 400);
    assert.equal(JSON.parse(publicAsked.text).error, 'invalid_client_metadata');
    const registered = await register(metadata);
    assert.equal(registered.status, 201, registered.text);
    const client = JSON.parse(registered.text);
    assert.equal(client.subject_type, 'pairwise');
    const signedIn = await signIn({ client_id: client.client_id, client_secret: client.client_secret, redirect_uri: metadata.redirect_uris[0]! }, users.alice, { scope: 'openid' });
    assert.notEqual(subOf(signedIn.id_token), users.alice.id);
    const refused = await latchkey.cli(['client', 'set-first-party', client.client_id, '--json']);
    assert.notEqual(refused.code, 0, 'a DCR app cannot be made first-party');
    assert.match(refused.stderr + refused.stdout, /portal or through DCR/);
  });

  test("an operator's existing app can be switched to the account id and back (for apps registered before pairwise subjects)", async () => {
    const app = await createApp('Legacy', ['https://legacy.example/callback']);
    const pairwise = subOf((await signIn(app, users.alice, { scope: 'openid' })).id_token);
    assert.notEqual(pairwise, users.alice.id);
    assert.deepEqual(await latchkey.cliJson(['client', 'set-first-party', app.client_id]), { client_id: app.client_id, first_party: true });
    assert.equal(subOf((await signIn(app, users.alice, { scope: 'openid' })).id_token), users.alice.id);
    await latchkey.cliJson(['client', 'set-first-party', app.client_id, '--off']);
    assert.equal(subOf((await signIn(app, users.alice, { scope: 'openid' })).id_token), pairwise, 'the same pairwise subject as before');
    // Audit events are written in batches, shortly after the change: wait for both, fail if they never come.
    const changes = await waitFor('both changes in the audit log', async () => {
      const found = JSON.stringify(await latchkey.operate(['audit', '--type', 'client.updated', '--client', app.client_id])).match(/firstParty/g)?.length ?? 0;
      return found >= 2 ? found : undefined;
    }, { timeoutMs: 10_000, intervalMs: 250 });
    assert.equal(changes, 2, 'both changes are in the audit log');
  });
});

describe('access tokens: the app learns nothing another app sees; the API still knows the user', () => {
  test("JWT access tokens carry the app's own subject; the kit resolves both apps' tokens to the same user", async () => {
    const alice = users.alice;
    const params = { scope: 'openid notes:read notes:write', resource: NOTES };
    const a = await signIn(apps.a!, alice, params);
    const b = await signIn(apps.b!, alice, params);
    const [claimsA, claimsB] = [decodeJwt(a.access_token), decodeJwt(b.access_token)];
    assert.equal(claimsA.sub, subOf(a.id_token), "the access token's sub is the one the app already has");
    assert.equal(claimsB.sub, subOf(b.id_token));
    assert.equal(claimsA.subject_type, 'pairwise');
    for (const [mine, theirs] of [[claimsA, b], [claimsB, a]] as const) {
      const readable = stringsIn(mine);
      assert.ok(!readable.includes(alice.id), 'no account id in what the app can read');
      assert.ok(!readable.includes(subOf(theirs.id_token)), "no other app's subject");
    }

    // The API: a note written through App A is alice's note through App B too; bob sees none of it.
    const created = await notes(notesApi.origin, a.access_token, { method: 'POST', body: { text: 'written through A' } });
    assert.equal(created.status, 201, await created.clone().text());
    const note = (await created.json()) as { id: string; owner: string };
    assert.equal(note.owner, alice.id, 'the API knows the user by account id');
    const throughB = (await (await notes(notesApi.origin, b.access_token)).json()) as Array<{ id: string }>;
    assert.deepEqual(throughB.map((n) => n.id), [note.id]);
    const bob = await signIn(apps.a!, users.bob, params);
    assert.deepEqual(await (await notes(notesApi.origin, bob.access_token)).json(), []);

    // An API without introspection credentials cannot know the user: it refuses rather than mistaking the app's subject for one.
    const refused = await notes(notesApiWithoutIntrospection.origin, a.access_token);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/);
    // A first-party app's token names the account id and needs no introspection.
    const own = await signIn(apps.own!, alice, params);
    assert.equal(decodeJwt(own.access_token).sub, alice.id);
    assert.equal(decodeJwt(own.access_token).subject_type, undefined);
    const ownList = (await (await notes(notesApiWithoutIntrospection.origin, own.access_token)).json()) as unknown[];
    assert.ok(Array.isArray(ownList));
  });

  test("introspection: the API is told the account id, the app only its own subject; other apps and APIs nothing", async () => {
    const alice = users.alice;
    const jwt = await signIn(apps.a!, alice, { scope: 'openid notes:read', resource: NOTES });
    const byApi = await introspect(asApi(notesCredentials), jwt.access_token);
    assert.equal(byApi.active, true);
    assert.equal(byApi.sub, alice.id);
    assert.equal(byApi.subject_type, undefined);
    const byApp = await introspect(asApp(apps.a!), jwt.access_token);
    assert.equal(byApp.active, true);
    assert.equal(byApp.sub, subOf(jwt.id_token));
    assert.deepEqual(await introspect(asApp(apps.b!), jwt.access_token), { active: false }, "another app learns nothing from A's token");
    assert.deepEqual(await introspect(asApi(opaqueCredentials), jwt.access_token), { active: false }, 'another API neither');

    const opaque = await signIn(apps.a!, alice, { scope: 'openid onotes:read', resource: OPAQUE });
    assert.ok(!opaque.access_token.includes('.'), 'an opaque access token');
    assert.equal((await introspect(asApi(opaqueCredentials), opaque.access_token)).sub, alice.id);
    assert.equal((await introspect(asApp(apps.a!), opaque.access_token)).sub, subOf(opaque.id_token));
  });
});

describe('consent lists exactly the claims; e-mail only with the email scope', () => {
  test('openid alone: no e-mail anywhere, and the consent page does not promise it', async () => {
    const app = await createApp('Claims', ['https://claims.example/callback']);
    const withoutEmail = await signIn(app, users.bob, { scope: 'openid profile' });
    assert.ok(withoutEmail.consentPage);
    assert.match(withoutEmail.consentPage, /Know who you are/);
    assert.match(withoutEmail.consentPage, /how you signed in/);
    assert.doesNotMatch(withoutEmail.consentPage, /e-mail address/);
    assert.doesNotMatch(withoutEmail.consentPage, /profile/i, 'profile releases no claim, so nothing is listed for it');
    const idToken = decodeJwt(withoutEmail.id_token);
    assert.equal(idToken.email, undefined);
    assert.equal(idToken.email_verified, undefined);
    assert.deepEqual(Object.keys(await userinfo(withoutEmail.access_token)), ['sub']);

    const withEmail = await signIn(app, users.bob, { scope: 'openid email' });
    assert.ok(withEmail.consentPage, 'a new scope asks again');
    assert.match(withEmail.consentPage, /See your e-mail address/);
    // conformIdTokenClaims: with an access token issued, scope claims come from userinfo only.
    assert.equal((await userinfo(withEmail.access_token)).email, users.bob.email);
  });
});
