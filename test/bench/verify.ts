/**
 * `npm run bench:verify`: JWT access-token verifications per second on one core, for ES256
 * and RS256, through the kit (verifyAccessToken with a warm remote JWKS discovered from a
 * local issuer) beside raw jose.jwtVerify with the key in hand, measured in the same run.
 * A benchmark, not a test: it prints figures and the kit/raw ratio (target ≥ 0.9).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { verifyAccessToken } from '../../src/resource-server/index.ts';

const AUDIENCE = 'https://api.example.com';
const DURATION_MS = Number(process.env.BENCH_MS ?? 2000);

async function rate(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await fn(); // warm-up (JIT, key import caches)
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 100; i++) await fn();
    count += 100;
  }
  return count / ((performance.now() - start) / 1000);
}

const keys = { ES256: await generateKeyPair('ES256'), RS256: await generateKeyPair('RS256') };
const jwks = { keys: await Promise.all(Object.entries(keys).map(async ([alg, k]) => ({ ...(await exportJWK(k.publicKey)), kid: alg, alg, use: 'sig' }))) };
let issuer = '';
const server = http.createServer((req, res) => {
  const body = req.url === '/.well-known/openid-configuration' ? { issuer, jwks_uri: `${issuer}/jwks` } : jwks;
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

console.log(`JWT verification, ${DURATION_MS} ms per measurement, one core (Node ${process.version})`);
console.log('alg     kit (verifyAccessToken)   raw jose.jwtVerify   kit/raw');
for (const alg of ['ES256', 'RS256'] as const) {
  const token = await new SignJWT({ scope: 'notes:read notes:write', client_id: 'bench', sub: 'user' })
    .setProtectedHeader({ alg, typ: 'at+jwt', kid: alg })
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(keys[alg].privateKey);
  const options = { issuer, audience: AUDIENCE, scopes: ['notes:read'] };
  const raw = () => jwtVerify(token, keys[alg].publicKey, { issuer, audience: AUDIENCE, typ: 'at+jwt', algorithms: [alg] });
  const kit = () => verifyAccessToken(token, options);
  // Alternate to even out thermal / GC drift, keep the best of each.
  let bestRaw = 0;
  let bestKit = 0;
  for (let round = 0; round < 2; round++) {
    bestRaw = Math.max(bestRaw, await rate(raw));
    bestKit = Math.max(bestKit, await rate(kit));
  }
  console.log(`${alg}   ${bestKit.toFixed(0).padStart(12)}/s   ${bestRaw.toFixed(0).padStart(18)}/s   ${(bestKit / bestRaw).toFixed(2).padStart(7)}`);
}
server.close();
