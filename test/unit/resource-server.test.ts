/**
 * The resource-server kit's pure parts, against a tiny local "issuer" (discovery + JWKS on
 * loopback) with locally generated keys: expiry, nbf, typ, algorithm allow-list, errors and
 * WWW-Authenticate, the replay cache and DPoP proof checks.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  AccessTokenError,
  authenticateRequest,
  ReplayCache,
  verifyAccessToken,
  verifyDpopProof,
  wwwAuthenticateFor,
} from '../../src/resource-server/index.ts';
import { assertAsymmetric } from '../../src/resource-server/algorithms.ts';
import { dpopProof, newDpopKey } from '../support/dpop.ts';

const AUDIENCE = 'https://api.example.com';
let issuer: string;
let server: http.Server;
let esKey: CryptoKey;
let rsKey: CryptoKey;

before(async () => {
  const es = await generateKeyPair('ES256');
  const rs = await generateKeyPair('RS256');
  esKey = es.privateKey;
  rsKey = rs.privateKey;
  const jwks = { keys: [{ ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256', use: 'sig' }, { ...(await exportJWK(rs.publicKey)), kid: 'rs', alg: 'RS256', use: 'sig' }] };
  server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    if (req.url === '/jwks') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

const now = () => Math.floor(Date.now() / 1000);

function token(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey = esKey) {
  return new SignJWT({ scope: 'notes:read', client_id: 'c1', sub: 'u1', ...claims })
    .setProtectedHeader({ alg: key === rsKey ? 'RS256' : 'ES256', typ: 'at+jwt', kid: key === rsKey ? 'rs' : 'es', ...header })
    .setIssuer(String(claims.iss ?? issuer))
    .setAudience(String(claims.aud ?? AUDIENCE))
    .setIssuedAt()
    .setExpirationTime(Number(claims.exp ?? now() + 300))
    .sign(key);
}

async function refusal(promise: Promise<unknown>): Promise<AccessTokenError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AccessTokenError, `expected AccessTokenError, got ${error}`);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('verifyAccessToken', () => {
  test('accepts ES256 and RS256 tokens and describes them', async () => {
    const es = await verifyAccessToken(await token(), { issuer, audience: AUDIENCE });
    assert.deepEqual([es.subject, es.clientId, es.scopes, es.audience, es.source], ['u1', 'c1', ['notes:read'], [AUDIENCE], 'jwt']);
    assert.equal((await verifyAccessToken(await token({}, {}, rsKey), { issuer, audience: AUDIENCE })).subject, 'u1');
  });

  test('expired beyond the tolerance → invalid_token; within the tolerance → accepted', async () => {
    const expired = await refusal(verifyAccessToken(await token({ exp: now() - 30 }), { issuer, audience: AUDIENCE }));
    assert.equal(expired.code, 'invalid_token');
    assert.match(expired.message, /expired/);
    assert.equal(expired.status, 401);
    await verifyAccessToken(await token({ exp: now() - 2 }), { issuer, audience: AUDIENCE });
  });

  test('not yet valid, wrong issuer, wrong audience, wrong typ → invalid_token', async () => {
    assert.match((await refusal(verifyAccessToken(await token({ nbf: now() + 120 }), { issuer, audience: AUDIENCE }))).message, /not valid yet/);
    assert.match((await refusal(verifyAccessToken(await token({ iss: 'https://evil.example' }), { issuer, audience: AUDIENCE }))).message, /issuer/);
    assert.match((await refusal(verifyAccessToken(await token({ aud: 'https://other' }), { issuer, audience: AUDIENCE }))).message, /not meant/);
    assert.match((await refusal(verifyAccessToken(await token({}, { typ: 'JWT' }), { issuer, audience: AUDIENCE }))).message, /at\+jwt/);
  });

  test('algorithm allow-list: RS256 refused when only ES256 is allowed; none and HS* cannot be configured', async () => {
    const error = await refusal(verifyAccessToken(await token({}, {}, rsKey), { issuer, audience: AUDIENCE, algorithms: ['ES256'] }));
    assert.equal(error.code, 'invalid_token');
    assert.throws(() => assertAsymmetric(['HS256'], 'test'), /not allowed/);
    assert.throws(() => assertAsymmetric(['none'], 'test'), /not allowed/);
    await assert.rejects(verifyAccessToken(await token(), { issuer, audience: AUDIENCE, algorithms: ['HS256'] }), TypeError);
  });

  test('required scopes → insufficient_scope (403); acr and amr requirements → invalid_token', async () => {
    const scope = await refusal(verifyAccessToken(await token(), { issuer, audience: AUDIENCE, scopes: ['notes:write'] }));
    assert.deepEqual([scope.code, scope.status, scope.requiredScopes], ['insufficient_scope', 403, ['notes:write']]);
    await refusal(verifyAccessToken(await token({ acr: '0' }), { issuer, audience: AUDIENCE, acrValues: ['urn:mfa'] }));
    await verifyAccessToken(await token({ acr: 'urn:mfa' }), { issuer, audience: AUDIENCE, acrValues: ['urn:mfa'] });
    await refusal(verifyAccessToken(await token({ amr: ['pwd'] }), { issuer, audience: AUDIENCE, amr: ['mfa'] }));
    await verifyAccessToken(await token({ amr: ['pwd', 'mfa'] }), { issuer, audience: AUDIENCE, amr: ['mfa'] });
  });

  test('garbage and an unreachable issuer → invalid_token, never a thrown library error', async () => {
    assert.equal((await refusal(verifyAccessToken('not a token', { issuer, audience: AUDIENCE }))).code, 'invalid_token');
    assert.equal((await refusal(verifyAccessToken(await token(), { issuer: 'http://127.0.0.1:1', audience: AUDIENCE }))).code, 'invalid_token');
  });
});

describe('authenticateRequest', () => {
  test('missing token → 401 without an error code; malformed header → 400 invalid_request', async () => {
    const missing = await refusal(authenticateRequest({ method: 'GET', url: `${AUDIENCE}/x` }, { issuer, audience: AUDIENCE }));
    assert.deepEqual([missing.status, missing.code], [401, undefined]);
    const malformed = await refusal(authenticateRequest({ method: 'GET', url: `${AUDIENCE}/x`, authorization: 'Basic abc' }, { issuer, audience: AUDIENCE }));
    assert.deepEqual([malformed.status, malformed.code], [400, 'invalid_request']);
  });

  test('a DPoP-bound token needs its proof; the proof key must match cnf.jkt', async () => {
    const key = await newDpopKey();
    const jkt = await calculateJwkThumbprint(key.publicJwk, 'sha256');
    const bound = await token({ cnf: { jkt } });
    const url = 'https://api.example.com/notes?page=2';
    const asBearer = await refusal(authenticateRequest({ method: 'GET', url, authorization: `Bearer ${bound}` }, { issuer, audience: AUDIENCE }));
    assert.equal(asBearer.scheme, 'DPoP');
    const proof = await dpopProof(key, { htm: 'GET', htu: 'https://api.example.com/notes', accessToken: bound });
    const ok = await authenticateRequest({ method: 'GET', url, authorization: `DPoP ${bound}`, dpop: proof }, { issuer, audience: AUDIENCE });
    assert.equal(ok.boundKeyThumbprint, jkt);
  });
});

describe('WWW-Authenticate', () => {
  test('challenges per RFC 6750 and RFC 9449', () => {
    assert.equal(
      wwwAuthenticateFor(new AccessTokenError('insufficient_scope', 'needs write', { requiredScopes: ['notes:write'] })),
      'Bearer error="insufficient_scope", error_description="needs write", scope="notes:write"',
    );
    assert.equal(
      wwwAuthenticateFor(new AccessTokenError('invalid_dpop_proof', 'bad "proof"', { scheme: 'DPoP' }), { dpopAlgorithms: ['ES256'] }),
      'DPoP error="invalid_dpop_proof", error_description="bad proof", algs="ES256"',
    );
    assert.equal(wwwAuthenticateFor(new AccessTokenError(undefined, 'x'), { realm: 'notes', dpopAlgorithms: ['ES256'] }), 'Bearer realm="notes", DPoP realm="notes", algs="ES256"');
  });
});

describe('ReplayCache', () => {
  test('refuses a replay while the entry lives, forgets it after expiry, and stays bounded', () => {
    const cache = new ReplayCache(3);
    assert.equal(cache.remember('a', 2000, 1000), true);
    assert.equal(cache.remember('a', 2000, 1500), false);
    assert.equal(cache.remember('a', 4000, 2500), true, 'expired entries are forgotten');
    for (const id of ['b', 'c', 'd', 'e']) cache.remember(id, 10_000, 2600);
    assert.equal(cache.size, 3);
  });
});

describe('verifyDpopProof', () => {
  const base = async () => {
    const key = await newDpopKey();
    return { key, check: { method: 'GET', url: 'https://api.example.com/notes', accessToken: 'tok', boundKeyThumbprint: await calculateJwkThumbprint(key.publicJwk, 'sha256'), algorithms: ['ES256'], replayCache: new ReplayCache() } };
  };

  test('a correct proof passes once', async () => {
    const { key, check } = await base();
    const proof = await dpopProof(key, { htm: 'GET', htu: check.url, accessToken: 'tok' });
    await verifyDpopProof({ ...check, proof });
    assert.match((await refusal(verifyDpopProof({ ...check, proof }))).message, /already used/);
  });

  test('wrong htm, htu, ath, stale or future iat, wrong alg, missing typ → invalid_dpop_proof', async () => {
    const { key, check } = await base();
    const t = now();
    const cases = [
      await dpopProof(key, { htm: 'POST', htu: check.url, accessToken: 'tok' }),
      await dpopProof(key, { htm: 'GET', htu: 'https://api.example.com/other', accessToken: 'tok' }),
      await dpopProof(key, { htm: 'GET', htu: check.url, accessToken: 'other' }),
      await dpopProof(key, { htm: 'GET', htu: check.url }),
      await dpopProof(key, { htm: 'GET', htu: check.url, accessToken: 'tok', iat: t - 3600 }),
      await dpopProof(key, { htm: 'GET', htu: check.url, accessToken: 'tok', iat: t + 3600 }),
      await new SignJWT({ htm: 'GET', htu: check.url, jti: 'x', ath: 'y' }).setProtectedHeader({ alg: 'ES256', jwk: key.publicJwk }).setIssuedAt().sign(key.privateKey),
      await new SignJWT({ htm: 'GET', htu: check.url, jti: 'x' }).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt' }).setIssuedAt().sign(new TextEncoder().encode('secret-secret-secret-secret-secret')),
    ];
    for (const proof of cases) assert.equal((await refusal(verifyDpopProof({ ...check, proof }))).code, 'invalid_dpop_proof');
  });
});
