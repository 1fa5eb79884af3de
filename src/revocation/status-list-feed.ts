import type { Context, Next } from 'koa';
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Services } from '../context.ts';
import type { Route } from '../http/route-table.ts';
import { loadSigningJwks } from '../keys/signing-keys.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import { compressStatusList, createStatusList, setStatus, STATUS_INVALID } from '../resource-server/status-list-bits.ts';
import { lastListNumber, LIST_SIZE, purgeExpiredPositions, revokedIndexes, statusListPath } from './token-status.ts';

/**
 * GET /statuslists/:n — the Status List Tokens (draft-ietf-oauth-status-list): a JWT with
 * `typ: statuslist+jwt`, signed with the current ES256 access-token key, whose
 * `status_list: { bits: 1, lst }` has bit idx set for every revoked position of list n.
 * Each list is built at most once per SERVER_CACHE_SECONDS per instance and served with a
 * matching Cache-Control; `ttl` tells resource servers how long to reuse it. Revocation
 * therefore reaches a resource server within SERVER_CACHE_SECONDS + its own cache.
 */
export const SERVER_CACHE_SECONDS = 2;
/** Advised reuse time for consumers (the kit's default cache is the same). */
export const LIST_TTL_SECONDS = 5;
/** Lifetime of one Status List Token: bounds how long an old copy could be replayed. */
export const LIST_LIFETIME_SECONDS = 120;
const PURGE_EVERY_MS = 60_000;
const MEDIA_TYPE = 'application/statuslist+jwt';
/** For the route table (src/http/route-table.ts): the one route this middleware answers. */
export const STATUS_LIST_ROUTES: Route[] = [{ method: 'GET', path: '/statuslists/:n' }];

export function statusListFeed(services: Pick<Services, 'db' | 'encryptor' | 'config' | 'logger'>) {
  const { db, config } = services;
  const issuer = config.issuer;
  const built = new Map<number, { at: number; token: Promise<string> }>();
  let lastPurge = 0;
  let highest = { at: 0, list: -1 };
  let signer: { kid: string; key: CryptoKey | Uint8Array } | undefined;

  const signingKey = async () => {
    // The newest ES256 key signs (keys are listed current first); re-imported only when it changes.
    const jwk = (await loadSigningJwks(db, services.encryptor)).find((k: JWK) => k.alg === 'ES256');
    if (!jwk?.kid) throw new Error('no ES256 signing key');
    if (signer?.kid !== jwk.kid) signer = { kid: jwk.kid, key: await importJWK(jwk, 'ES256') };
    return signer;
  };

  const build = async (list: number): Promise<string> => {
    if (Date.now() - lastPurge > PURGE_EVERY_MS) {
      lastPurge = Date.now();
      await purgeExpiredPositions(db.sql).catch((err) => services.logger.error({ err }, 'token status purge failed'));
    }
    const bits = createStatusList(LIST_SIZE, 1);
    for (const idx of await revokedIndexes(db.sql, list, [ACCOUNT_CONSOLE_CLIENT_ID])) setStatus(bits, idx, STATUS_INVALID, 1);
    const { kid, key } = await signingKey();
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ status_list: { bits: 1, lst: compressStatusList(bits) }, ttl: LIST_TTL_SECONDS })
      .setProtectedHeader({ alg: 'ES256', typ: 'statuslist+jwt', kid })
      .setIssuer(issuer)
      .setSubject(`${issuer.replace(/\/$/, '')}${statusListPath(list)}`)
      .setIssuedAt(now)
      .setExpirationTime(now + LIST_LIFETIME_SECONDS)
      .sign(key);
  };

  const tokenFor = (list: number): Promise<string> => {
    const hit = built.get(list);
    if (hit && Date.now() - hit.at < SERVER_CACHE_SECONDS * 1000) return hit.token;
    const entry = { at: Date.now(), token: build(list) };
    built.set(list, entry);
    entry.token.catch(() => built.get(list) === entry && built.delete(list));
    return entry.token;
  };

  return async function statusListMiddleware(ctx: Context, next: Next): Promise<void> {
    const match = /^\/statuslists\/(0|[1-9]\d{0,8})$/.exec(ctx.path);
    if (!match || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const list = Number(match[1]);
    // Only lists that hold positions exist; unknown numbers cost no signature.
    if (list > highest.list && Date.now() - highest.at > SERVER_CACHE_SECONDS * 1000) highest = { at: Date.now(), list: await lastListNumber(db.sql) };
    if (list > highest.list) {
      ctx.status = 404;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'not_found', error_description: 'no such status list' };
      return;
    }
    ctx.body = await tokenFor(list);
    ctx.type = MEDIA_TYPE;
    ctx.set('Cache-Control', `public, max-age=${SERVER_CACHE_SECONDS}`);
    ctx.set('Access-Control-Allow-Origin', '*');
  };
}
