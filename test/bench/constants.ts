/** The APIs (resource servers) both servers under test serve in `npm run bench`. */
export const JWT_API = { name: 'Bench', audience: 'https://bench.example', scope: 'bench:read', writeScope: 'bench:write' } as const;
export const OPAQUE_API = { name: 'Bench opaque', audience: 'https://bench-opaque.example', scope: 'opaque:read' } as const;

/** Per-core targets of issue 7 (Keycloak's sizing guide, per vCPU, in brackets in the output). */
export const TARGETS = {
  clientCredentialsPerCore: 1200,
  refreshPerCore: 1200,
  introspectionPerCore: 3000,
  signInPerCore: 30,
  coldStartMs: 2000,
  idleRssMb: 200,
  loadRssMb: 300,
} as const;
