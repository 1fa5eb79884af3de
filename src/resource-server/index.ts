/**
 * latchkey/resource-server — protect an API with Latchkey access tokens. Depends only on
 * `jose` and Node built-ins; see docs/protect-your-api.md.
 */
export { AccessTokenError, type AccessTokenErrorCode, type AuthenticationScheme } from './access-token-error.ts';
export { authenticateRequest, parseAuthorization, type RequestCredentials, type ResourceServerOptions } from './authenticate-request.ts';
export { accessTokenHash, verifyDpopProof, type DpopProofCheck } from './dpop-proof.ts';
export { introspectAccessToken, type IntrospectionOptions } from './introspection.ts';
export { requireAccessToken, requireScopes, type KoaAccessTokenOptions, type KoaLikeContext } from './koa-middleware.ts';
export { checkFetchRequest, checkNodeRequest, type NodeAccessTokenOptions } from './node-http.ts';
export { assertNotRevoked, clearStatusListCache, statusReferenceOf, type StatusListOptions, type StatusReference } from './status-list.ts';
export {
  compressStatusList, createStatusList, decompressStatusList, getStatus, setStatus, STATUS_INVALID, STATUS_VALID, type StatusBits,
} from './status-list-bits.ts';
export { refusalFor, type Refusal } from './refusal.ts';
export { clearPairwiseSubjectCache } from './pairwise-subject.ts';
export { ReplayCache } from './replay-cache.ts';
export type { TokenRequirements } from './token-requirements.ts';
export type { VerifiedAccessToken } from './verified-access-token.ts';
export { verifyAccessToken, type JwtVerificationOptions } from './verify-access-token.ts';
export { wwwAuthenticateFor } from './www-authenticate.ts';
