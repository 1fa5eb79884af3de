/**
 * Where the client registry meets oidc-provider: Dynamic Client Registration (RFC 7591/7592)
 * with adapter-backed initial access tokens, client storage for DCR (the Client adapter's
 * upsert/destroy land here, so DCR clients live in the same tables as every other client —
 * secret encrypted, owner recorded), the secret-rotation grace period, a clear answer for
 * suspended clients, CORS origins of single-page apps and per-client token counts.
 */
import { constantTimeEqual } from '../crypto/constant-time.ts';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { storedTokenId } from '../storage/oidc-adapter.ts';
import { deleteClient } from './client-registry.ts';
import { clientMetadataProblem, clientTypeOf, newClientId, originProblem, SERVER_OWNED_PREFIX, splitScope, standInSectorUri, subjectMetadataFor } from './client-rules.ts';
import { secretContext } from './client-store.ts';
import { recordTokenIssued } from './usage.ts';

export const REGISTRATION_POLICY = 'latchkey';

/** What a registration request decided before oidc-provider stored the client, by client_id (same request). */
const pending = new Map<string, { scopeIds?: string[]; ownerId?: string | null; at: number }>();
const counted = new WeakSet<object>();

function remember(clientId: string, value: { scopeIds?: string[]; ownerId?: string | null }) {
  const now = Date.now();
  for (const [id, entry] of pending) if (now - entry.at > 60_000) pending.delete(id);
  pending.set(clientId, { ...value, at: now });
}

function metadataError(problem: { code: string; message: string }) {
  // oidc-provider answers invalid_redirect_uri for descriptions that start with "redirect_uris".
  return new errors.InvalidClientMetadata(problem.code === 'invalid_redirect_uri' ? `redirect_uris: ${problem.message}` : problem.message);
}

/** The `features.registration` and `features.registrationManagement` configuration. */
export function registrationFeatures(services: Services): Pick<NonNullable<Configuration['features']>, 'registration' | 'registrationManagement'> {
  return {
    registration: {
      enabled: true,
      initialAccessToken: true,
      idFactory: () => newClientId(),
      issueRegistrationAccessToken: true,
      policies: {
        /**
         * Runs on registration (with the initial access token) and on RFC 7592 updates (the
         * registration access token carries the policy): Latchkey's rules, API scopes, and on
         * registration the token's use limit and owner.
         */
        [REGISTRATION_POLICY]: async (ctx: KoaContextWithOIDC, properties: Record<string, unknown>) => {
          // An RFC 7592 update may echo the stand-in sector URI it was shown (client-rules.ts); it is Latchkey's, not the client's.
          if (properties.sector_identifier_uri === standInSectorUri(String(properties.client_id))) delete properties.sector_identifier_uri;
          const problem = clientMetadataProblem(properties);
          if (problem) throw metadataError(problem);
          const { oidc, api } = splitScope(properties.scope);
          const apiScopes = api.length ? await services.db.prisma.apiScope.findMany({ where: { name: { in: api } } }) : [];
          const unknown = api.filter((n) => !apiScopes.some((s) => s.name === n));
          if (unknown.length) throw new errors.InvalidClientMetadata(`scope contains unknown value(s): ${unknown.join(', ')}`);
          if (clientTypeOf(properties) === 'service' && oidc.length) throw new errors.InvalidClientMetadata('client_credentials clients cannot ask for OpenID scopes');
          // A registered app is never first-party: the answer says pairwise, as the client store decides (client-rules.ts subjectTypeFor).
          if (clientTypeOf(properties) !== 'service') Object.assign(properties, subjectMetadataFor(properties, false));
          // oidc-provider only knows OpenID scopes; API scopes are Latchkey's (client_scope table).
          if (oidc.length) properties.scope = oidc.join(' ');
          else delete properties.scope;

          const iat = ctx.oidc.entities.InitialAccessToken as { jti: string } | undefined;
          let ownerId: string | null | undefined;
          if (iat) {
            const { rows } = await services.db.sql.query<{ owner_id: string | null }>(
              'UPDATE registration_token SET uses = uses + 1 WHERE id = $1 AND (max_uses IS NULL OR uses < max_uses) RETURNING owner_id',
              [storedTokenId(iat.jti)],
            );
            if (!rows.length) {
              const error = new errors.InvalidToken();
              error.error_description = 'initial access token has been used up';
              throw error;
            }
            counted.add(ctx);
            ownerId = rows[0]!.owner_id;
          }
          remember(String(properties.client_id), { scopeIds: apiScopes.map((s) => s.id), ...(iat ? { ownerId } : {}) });
        },
      },
    },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
  };
}

/** `extraClientMetadata`: the CORS origins a single-page app calls the token endpoint from. */
export const extraClientMetadata: Configuration['extraClientMetadata'] = {
  properties: ['allowed_cors_origins'],
  validator(_ctx, key, value) {
    if (key !== 'allowed_cors_origins' || value === undefined) return;
    if (!Array.isArray(value) || value.length > 10) throw new errors.InvalidClientMetadata('allowed_cors_origins must be an array of at most 10 origins');
    for (const origin of value) {
      const problem = typeof origin === 'string' ? originProblem(origin) : 'allowed_cors_origins must contain strings';
      if (problem) throw new errors.InvalidClientMetadata(problem);
    }
  },
};

/** Registered CORS origins, else oidc-provider's default (a public client's redirect-URI origins). */
export function clientBasedCORS(ctx: KoaContextWithOIDC, origin: string, client: { clientAuthMethod?: string; redirectUris?: string[]; [key: string]: unknown }): boolean {
  if (origin === 'null') return false;
  const registered = client.allowed_cors_origins;
  if (Array.isArray(registered) && registered.includes(origin)) return true;
  if (ctx.oidc.route === 'userinfo' || client.clientAuthMethod === 'none') {
    return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
  }
  return false;
}

/** The Client adapter's upsert and destroy, which only DCR uses (RFC 7591 create, 7592 update/delete). */
export function registrationClientStore(services: Services) {
  return {
    async upsert(clientId: string, payload: Record<string, unknown>): Promise<void> {
      const { client_secret: secret, ...metadata } = payload;
      for (const key of Object.keys(metadata)) if (key.startsWith(SERVER_OWNED_PREFIX)) delete metadata[key];
      const decided = pending.get(clientId);
      pending.delete(clientId);
      const name = typeof metadata.client_name === 'string' && metadata.client_name.trim() ? metadata.client_name.trim() : 'Unnamed app';
      const type = clientTypeOf(metadata);
      const secretEncrypted = typeof secret === 'string' ? services.encryptor.encrypt(secret, secretContext(clientId)) : null;
      const existing = await services.db.prisma.client.findUnique({ where: { id: clientId }, select: { id: true, ownerId: true } });
      if (existing) {
        await services.db.prisma.$transaction([
          ...(decided?.scopeIds ? [services.db.prisma.clientScope.deleteMany({ where: { clientId } })] : []),
          services.db.prisma.client.update({
            where: { id: clientId },
            data: {
              name,
              type,
              metadata: metadata as object,
              secretEncrypted,
              ...(decided?.scopeIds ? { scopes: { create: decided.scopeIds.map((scopeId) => ({ scopeId })) } } : {}),
            },
          }),
        ]);
        services.events.emit({ type: 'registration.updated', actor: `client:${clientId}`, clientId });
      } else {
        const approvalPending = services.config.clientApproval === 'manual';
        await services.db.prisma.client.create({
          data: {
            id: clientId,
            name,
            type,
            ownerId: decided?.ownerId ?? null,
            createdVia: 'dcr',
            approvalPending,
            metadata: metadata as object,
            secretEncrypted,
            scopes: { create: (decided?.scopeIds ?? []).map((scopeId) => ({ scopeId })) },
          },
        });
        services.events.emit({ type: 'client.created', actor: 'registration', clientId, userId: decided?.ownerId ?? undefined, details: { type, via: 'dcr', approvalPending } });
        services.events.emit({ type: 'registration.created', actor: 'registration', clientId, userId: decided?.ownerId ?? undefined });
      }
      await services.db.notifyChange(`client:${clientId}`);
    },
    async destroy(clientId: string): Promise<void> {
      await deleteClient(services, clientId, `client:${clientId}`).catch((error) => {
        if ((error as Error).name !== 'NotFoundError') throw error;
      });
      services.events.emit({ type: 'registration.deleted', actor: `client:${clientId}`, clientId });
    },
  };
}


/** The client_id a failed request presented: HTTP Basic (form-urlencoded, RFC 6749 §2.3.1) or the body. */
function presentedClientId(ctx: KoaContextWithOIDC): string | undefined {
  const header = ctx.get('authorization');
  if (/^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  const fromParams = ctx.oidc?.params?.client_id;
  return typeof fromParams === 'string' ? fromParams : undefined;
}

const REGISTRATION_ROUTES = new Set(['registration', 'client', 'client_update']);

/** Installs Latchkey's client behaviour on a freshly built provider (also after key rotation rebuilds it). */
export function installClientHooks(provider: Provider, services: Services): void {
  const { clients } = services;

  // Secret rotation with a grace period: the previous secret is accepted until it expires.
  const proto = provider.Client.prototype as unknown as { compareClientSecret(actual: string): Promise<boolean> | boolean; clientId: string };
  const original = proto.compareClientSecret;
  proto.compareClientSecret = async function (this: { clientId: string }, actual: string) {
    if (await original.call(this, actual)) return true;
    const previous = (await clients.find(this.clientId))?.previousSecret;
    return Boolean(previous && previous.validUntil > Date.now() && constantTimeEqual(previous.value, actual));
  };

  provider.use(async (ctx: Context, next: Next) => {
    await next();
    const oidcCtx = ctx as unknown as KoaContextWithOIDC;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return;
    // oidc-provider answers a suspended client like an unknown one; say why.
    if (body.error === 'invalid_client') {
      const clientId = presentedClientId(oidcCtx);
      const stored = clientId ? await clients.find(clientId) : undefined;
      if (stored?.suspended) body.error_description = 'this client is suspended; its owner should contact the operator';
      else if (stored?.approvalPending) body.error_description = 'this client is awaiting approval by an operator';
      return;
    }
    // RFC 7591/7592 responses: show the API scopes Latchkey keeps beside oidc-provider's metadata.
    if (REGISTRATION_ROUTES.has(oidcCtx.oidc?.route ?? '') && typeof body.client_id === 'string' && ctx.status < 300) {
      const stored = await clients.find(body.client_id);
      const apiScopes = [...(stored?.allowedScopes ?? [])];
      if (apiScopes.length) body.scope = [...splitScope(body.scope).oidc, ...apiScopes].join(' ');
    }
  });

  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const clientId = ctx.oidc.client?.clientId;
    if (clientId) recordTokenIssued(services, clientId);
  });
  // A registration that fails after its policy counted a use gives the use back.
  provider.on('registration_create.error', (ctx: KoaContextWithOIDC) => {
    const iat = ctx.oidc?.entities?.InitialAccessToken as { jti: string } | undefined;
    if (!iat || !counted.has(ctx)) return;
    counted.delete(ctx);
    services.db.sql
      .query('UPDATE registration_token SET uses = greatest(uses - 1, 0) WHERE id = $1', [storedTokenId(iat.jti)])
      .catch((err) => services.logger.error({ err }, 'could not give back an initial access token use'));
  });
}

/**
 * `latchkey registration-token create`: an initial access token for DCR, adapter-backed
 * (stored hashed), with an optional expiry, use limit and owner (whose portal lists the
 * clients registered with it). The token is returned once.
 */
export async function createRegistrationToken(
  services: Services,
  provider: Provider,
  input: { expiresIn?: number; maxUses?: number; ownerEmail?: string },
): Promise<{ id: string; initial_access_token: string; expires_at: string | null; max_uses: number | null; owner: string | null }> {
  if (input.expiresIn !== undefined && (!Number.isInteger(input.expiresIn) || input.expiresIn < 1)) throw new InputError('--expires must be a positive duration');
  if (input.maxUses !== undefined && (!Number.isInteger(input.maxUses) || input.maxUses < 1)) throw new InputError('--max-uses must be a positive whole number');
  let ownerId: string | null = null;
  if (input.ownerEmail) {
    const owner = await services.db.prisma.user.findUnique({ where: { email: input.ownerEmail.trim().toLowerCase() } });
    if (!owner) throw new InputError(`no user with e-mail ${input.ownerEmail}`);
    ownerId = owner.id;
  }
  const IAT = provider.InitialAccessToken as unknown as new (p: Record<string, unknown>) => { save(): Promise<string> };
  const value = await new IAT({ policies: [REGISTRATION_POLICY], ...(input.expiresIn ? { expiresIn: input.expiresIn } : {}) }).save();
  const id = storedTokenId(value);
  const expiresAt = input.expiresIn ? new Date(Date.now() + input.expiresIn * 1000) : null;
  await services.db.prisma.registrationToken.create({ data: { id, ownerId, maxUses: input.maxUses ?? null, expiresAt } });
  services.events.emit({ type: 'registration.token_created', actor: 'cli', userId: ownerId ?? undefined, details: { id: id.slice(0, 12), maxUses: input.maxUses ?? null } });
  return { id: id.slice(0, 12), initial_access_token: value, expires_at: expiresAt?.toISOString() ?? null, max_uses: input.maxUses ?? null, owner: input.ownerEmail ?? null };
}
