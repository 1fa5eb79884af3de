/** The APIs (resource servers) both servers under test serve in `npm run bench`. */
export const JWT_API = { name: 'Bench', audience: 'https://bench.example', scope: 'bench:read' } as const;
export const OPAQUE_API = { name: 'Bench opaque', audience: 'https://bench-opaque.example', scope: 'opaque:read' } as const;
