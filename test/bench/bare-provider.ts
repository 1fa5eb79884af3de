/**
 * The baseline for `npm run bench`: a bare oidc-provider (the version in node_modules) with
 * its default in-memory adapter, configured only with what the measured paths need —
 * client_credentials, introspection, resource indicators (one JWT ES256 API, one opaque API)
 * and a single static service client. No Koa app around it, no database.
 *
 * Run by test/bench/run.ts as a child process:
 *   BENCH_CLIENT_ID=… BENCH_CLIENT_SECRET=… node --import tsx test/bench/bare-provider.ts
 * It listens on a free loopback port and prints one JSON line: {"ready":true,"issuer":"http://127.0.0.1:<port>"}.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { errors, type Configuration, type ResourceServer } from 'oidc-provider';
import { JWT_API, OPAQUE_API } from './constants.ts';

async function signingKey(alg: 'ES256' | 'RS256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

async function main() {
  const clientId = process.env.BENCH_CLIENT_ID ?? 'svc';
  const clientSecret = process.env.BENCH_CLIENT_SECRET;
  if (!clientSecret) throw new Error('BENCH_CLIENT_SECRET is required');

  const resourceServers: Record<string, ResourceServer> = {
    [JWT_API.audience]: { scope: JWT_API.scope, audience: JWT_API.audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
    [OPAQUE_API.audience]: { scope: OPAQUE_API.scope, audience: OPAQUE_API.audience, accessTokenFormat: 'opaque' },
  };

  const jwks = [await signingKey('ES256'), await signingKey('RS256')];
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const configuration: Configuration = {
    // No `adapter`: oidc-provider's default in-memory (LRU) adapter.
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: jwks as never },
    cookies: { keys: [clientSecret] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Same policy as Latchkey (a client may introspect only its own tokens); it costs nothing measurable.
      introspection: { enabled: true, allowedPolicy: async (_ctx, caller, token) => caller.clientId === token.clientId },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => JWT_API.audience,
        getResourceServerInfo: (_ctx, indicator) => {
          const info = resourceServers[indicator];
          if (!info) throw new errors.InvalidTarget('unknown resource indicator');
          return info;
        },
        useGrantedResource: () => true,
      },
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (_ctx, err) => console.error(JSON.stringify({ level: 'error', msg: 'oidc-provider server error', err: String(err) })));
  server.on('request', provider.callback());

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  console.log(JSON.stringify({ ready: true, issuer }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
