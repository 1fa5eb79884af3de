import type Router from '@koa/router';

/**
 * Every route the server answers, as (method, pattern) pairs: the koa routers' own stacks plus
 * oidc-provider's endpoints (src/oidc/provider-routes.ts). It is the closed list behind three
 * things that must not be fooled by how a URL is spelled: the refusal of non-canonical paths
 * (src/http/canonical-path.ts), the metrics route label, and the route-variant test.
 */
export interface Route {
  method: string;
  /** e.g. `/interaction/:uid/login`; a segment starting with `:` matches any one non-empty segment */
  path: string;
}

interface Compiled {
  path: string;
  segments: Array<string | null>;
}

export class RouteTable {
  readonly routes: readonly Route[];
  /** Every literal segment of every pattern ("interaction", "login", "token", ...). */
  readonly literalSegments: ReadonlySet<string>;
  readonly #static = new Map<string, string>();
  readonly #dynamic: Compiled[] = [];

  constructor(routes: Route[]) {
    const unique = new Map(routes.map((r) => [`${r.method} ${r.path}`, r]));
    this.routes = [...unique.values()];
    const literals = new Set<string>();
    for (const path of new Set(this.routes.map((r) => r.path))) {
      const segments = path.split('/').map((s) => (s.startsWith(':') ? null : s));
      for (const s of segments) if (s) literals.add(s);
      if (segments.includes(null)) this.#dynamic.push({ path, segments });
      else this.#static.set(path, path);
    }
    this.literalSegments = literals;
  }

  /** The pattern a path matches exactly (case-sensitive, no trailing slash), whatever the method. */
  patternOf(path: string): string | undefined {
    const exact = this.#static.get(path);
    if (exact) return exact;
    const parts = path.split('/');
    for (const candidate of this.#dynamic) {
      if (candidate.segments.length !== parts.length) continue;
      if (candidate.segments.every((s, i) => (s === null ? parts[i] !== '' : s === parts[i]))) return candidate.path;
    }
    return undefined;
  }
}

/** Pure: the routes of a @koa/router (its prefix included), middleware-only layers left out. */
export function routesOfRouter(router: Router): Route[] {
  return router.stack.flatMap((layer) => {
    const path = layer.path;
    return typeof path === 'string' ? layer.methods.filter((m) => m !== 'HEAD').map((method) => ({ method, path })) : [];
  });
}
