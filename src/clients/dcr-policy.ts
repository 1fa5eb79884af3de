/**
 * Dynamic Client Registration (RFC 7591/7592) policy: Latchkey's client rules and API scopes on
 * registration and update, and the initial access token's use limit and owner. What it decides
 * reaches the client store through registration-decision.ts (keyed by the request).
 */
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Services } from '../context.ts';
import { storedTokenId } from '../storage/stored-ids.ts';
import { clientMetadataProblem, clientTypeOf, newClientId, splitScope, standInSectorUri, subjectMetadataFor } from './client-rules.ts';
import { countedUses, rememberDecision } from './registration-decision.ts';
import { spendRegistrationTokenUse } from './registration-token-queries.ts';

export const REGISTRATION_POLICY = 'latchkey';

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
            const spent = await spendRegistrationTokenUse(services.db.sql, storedTokenId(iat.jti));
            if (!spent) {
              const error = new errors.InvalidToken();
              error.error_description = 'initial access token has been used up';
              throw error;
            }
            countedUses.add(ctx);
            ownerId = spent.ownerId;
          }
          rememberDecision(String(properties.client_id), { scopeIds: apiScopes.map((s) => s.id), ...(iat ? { ownerId } : {}) });
        },
      },
    },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
  };
}
