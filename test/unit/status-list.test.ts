/**
 * Token Status List (draft-ietf-oauth-status-list): the bitstring encoding, and the kit's
 * revocation check against a tiny local "issuer" (discovery, JWKS, status lists) — valid,
 * revoked, bad signature (fail closed), wrong typ or sub, cache window, opt-out.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  AccessTokenError,
  clearStatusListCache,
  compressStatusList,
  createStatusList,
  decompressStatusList,
  getStatus,
  setStatus,
  verifyAccessToken,
} from '../../src/resource-server/index.ts';

describe('status list bitstring', () => {
  test('the draft example: statuses 1,0,0,1,1,1,0,1, 1,1,0,0,0,1,0,1 ↔ bytes B9 A3 ↔ eNrbuRgAAhcBXQ', () => {
    const statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
    const list = createStatusList(16);
    statuses.forEach((v, i) => setStatus(list, i, v));
    assert.deepEqual([...list], [0xb9, 0xa3]);
    assert.equal(compressStatusList(list), 'eNrbuRgAAhcBXQ');
    const decoded = decompressStatusList('eNrbuRgAAhcBXQ');
    assert.deepEqual(statuses.map((_, i) => getStatus(decoded, i)), statuses);
  });

  test('round trip with 1 and 2 bits per entry; clearing a bit; out-of-range indexes', () => {
    for (const bits of [1, 2] as const) {
      const size = 65_536;
      const list = createStatusList(size, bits);
      const set = new Map([[0, 1], [7, 1], [8, bits === 2 ? 2 : 1], [40_000, 1], [size - 1, bits === 2 ? 3 : 1]]);
      for (const [i, v] of set) setStatus(list, i, v, bits);
      const back = decompressStatusList(compressStatusList(list));
      for (let i = 0; i < size; i++) assert.equal(getStatus(back, i, bits), set.get(i) ?? 0, `index ${i}`);
      setStatus(back, 7, 0, bits);
      assert.equal(getStatus(back, 7, bits), 0);
      assert.equal(getStatus(back, 8, bits), set.get(8), 'neighbours untouched');
      assert.equal(getStatus(back, size, bits), undefined);
      assert.equal(getStatus(back, -1, bits), undefined);
      assert.throws(() => setStatus(back, size, 1, bits), RangeError);
      assert.throws(() => setStatus(back, 0, 1 << bits, bits), RangeError);
    }
  });

  test('a 64 Ki-entry list of mostly zeros stays small; a decompression bomb is refused', () => {
    const list = createStatusList(65_536);
    for (let i = 0; i < 100; i++) setStatus(list, i * 613, 1);
    assert.ok(compressStatusList(list).length < 1500, `compressed to ${compressStatusList(list).length} chars`);
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024)).toString('base64url');
    assert.throws(() => decompressStatusList(bomb));
    assert.throws(() => decompressStatusList('not base64url!'));
  });
});

describe('the kit refuses revoked JWTs via the status list', () => {
  const AUDIENCE = 'https://api.example.com';
  let issuer: string;
  let server: http.Server;
  let key: CryptoKey;
  let rogueKey: CryptoKey;
  /** What /statuslists/1 serves next. */
  let listToken: () => Promise<string>;
  let fetches = 0;

  const list = (revoked: number[], options: { key?: CryptoKey; typ?: string; sub?: string; exp?: number; ttl?: number } = {}) => async () => {
    const bits = createStatusList(1024);
    for (const i of revoked) setStatus(bits, i, 1);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ status_list: { bits: 1, lst: compressStatusList(bits) }, ttl: options.ttl ?? 300 })
      .setProtectedHeader({ alg: 'ES256', typ: options.typ ?? 'statuslist+jwt', kid: 'k1' })
      .setIssuer(issuer)
      .setSubject(options.sub ?? `${issuer}/statuslists/1`)
      .setIssuedAt(now)
      .setExpirationTime(options.exp ?? now + 120)
      .sign(options.key ?? key);
  };

  const accessToken = (idx: number, uri = `${issuer}/statuslists/1`) =>
    new SignJWT({ scope: 'read', client_id: 'c1', status: { status_list: { idx, uri } } })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('user-1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);

  const verify = (token: string, statusList?: Parameters<typeof verifyAccessToken>[1]['statusList']) =>
    verifyAccessToken(token, { issuer, audience: AUDIENCE, ...(statusList !== undefined ? { statusList } : {}) });

  const refusedWith = async (promise: Promise<unknown>, message: RegExp) =>
    assert.rejects(promise, (err: unknown) => err instanceof AccessTokenError && err.code === 'invalid_token' && err.status === 401 && message.test(err.message));

  before(async () => {
    ({ privateKey: key } = await generateKeyPair('ES256', { extractable: true }));
    ({ privateKey: rogueKey } = await generateKeyPair('ES256'));
    const jwk = { ...(await exportJWK(key)), kid: 'k1', alg: 'ES256', use: 'sig' };
    delete jwk.d;
    server = http.createServer(async (req, res) => {
      if (req.url === '/.well-known/openid-configuration') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      if (req.url === '/jwks') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      if (req.url === '/statuslists/1') {
        fetches++;
        return res.writeHead(200, { 'content-type': 'application/statuslist+jwt' }).end(await listToken());
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

  test('valid entry → accepted; revoked entry → 401 "revoked"', async () => {
    clearStatusListCache();
    listToken = list([3]);
    assert.equal((await verify(await accessToken(2))).subject, 'user-1');
    await refusedWith(verify(await accessToken(3)), /revoked/);
  });

  test('the list is cached for cacheSeconds, then refetched', async () => {
    clearStatusListCache();
    listToken = list([]);
    fetches = 0;
    const token = await accessToken(5);
    await verify(token, { cacheSeconds: 1 });
    await verify(token, { cacheSeconds: 1 });
    assert.equal(fetches, 1, 'second verification used the cache');
    listToken = list([5]);
    await verify(token, { cacheSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    await refusedWith(verify(token, { cacheSeconds: 1 }), /revoked/);
    assert.equal(fetches, 2);
  });

  test("the list's ttl caps the cache", async () => {
    clearStatusListCache();
    listToken = list([], { ttl: 0 });
    fetches = 0;
    const token = await accessToken(1);
    await verify(token, { cacheSeconds: 60 });
    await verify(token, { cacheSeconds: 60 });
    assert.equal(fetches, 2);
  });

  test('fail closed: a list with a bad signature, wrong typ, wrong sub or past exp → 401', async () => {
    const token = await accessToken(2);
    for (const bad of [list([], { key: rogueKey }), list([], { typ: 'JWT' }), list([], { sub: `${issuer}/statuslists/2` }), list([], { exp: Math.floor(Date.now() / 1000) - 600 })]) {
      clearStatusListCache();
      listToken = bad;
      await refusedWith(verify(token), /cannot be checked/);
    }
    // An unreachable list fails closed too.
    clearStatusListCache();
    await refusedWith(verify(await accessToken(2, `${issuer}/statuslists/9`)), /cannot be checked/);
  });

  test('a list elsewhere than the issuer origin, an index past the list, or a malformed claim → 401', async () => {
    clearStatusListCache();
    listToken = list([]);
    await refusedWith(verify(await accessToken(2, 'https://elsewhere.example.com/statuslists/1')), /origin/);
    await refusedWith(verify(await accessToken(5000)), /not in its status list/);
    const malformed = await new SignJWT({ status: { status_list: { idx: 'x', uri: 1 } } })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' }).setIssuer(issuer).setAudience(AUDIENCE).setExpirationTime('5m').sign(key);
    await refusedWith(verify(malformed), /malformed/);
  });

  test('statusList: false skips the check (tokens stay valid until exp)', async () => {
    clearStatusListCache();
    listToken = list([], { key: rogueKey });
    assert.equal((await verify(await accessToken(3), false)).subject, 'user-1');
  });
});
