import type { Middleware } from 'koa';
import type { RouteTable } from './route-table.ts';
import { renderView } from './views.ts';

/**
 * One spelling per route. oidc-provider's router matches paths case-insensitively and forgives
 * a trailing slash, and routers decode percent-escapes: `/TOKEN`, `/token/`, `//token` or
 * `/%74oken` would each reach the token endpoint while a guard looking for `/token` stayed
 * silent. This middleware runs before every guard and refuses (404) a path that is not spelled
 * exactly as a registered route would spell it, so everything behind it sees canonical paths.
 */
export type PathVerdict = { canonical: true } | { canonical: false; reason: string };

const ESCAPE = /%[0-9A-Fa-f]{2}/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function decodeEscape(escape: string): string {
  return String.fromCharCode(Number.parseInt(escape.slice(1), 16));
}

/** Pure: is `path` (raw, as received, without the query) the only spelling of itself? */
export function checkPath(path: string, literalSegments: ReadonlySet<string>): PathVerdict {
  if (path === '/') return { canonical: true };
  if (!path.startsWith('/')) return { canonical: false, reason: 'relative path' };
  if (path.endsWith('/')) return { canonical: false, reason: 'trailing slash' };
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') return { canonical: false, reason: 'empty path segment' };
    // An escape of an unreserved character, of "/" or of "\" is another spelling of a path
    // (RFC 3986 §6.2.2.2): refused outright, whatever segment it is in.
    for (const escape of segment.match(ESCAPE) ?? []) {
      const char = decodeEscape(escape);
      if (UNRESERVED.test(char) || char === '/' || char === '\\') return { canonical: false, reason: 'needlessly percent-encoded' };
    }
    if (segment === '.' || segment === '..') return { canonical: false, reason: 'dot segment' };
    // A route word in another case (LOGIN, Token): a registered literal is the only spelling.
    if (!literalSegments.has(segment) && literalSegments.has(segment.replace(/[A-Z]/g, (c) => c.toLowerCase()))) {
      return { canonical: false, reason: 'letter case' };
    }
  }
  return { canonical: true };
}

export function refuseNonCanonicalPaths(table: RouteTable): Middleware {
  const literals = table.literalSegments;
  return async (ctx, next) => {
    const verdict = checkPath(ctx.path, literals);
    if (verdict.canonical) return next();
    ctx.status = 404;
    ctx.set('Cache-Control', 'no-store');
    const description = `No such path (${verdict.reason}): use the path exactly as documented.`;
    if (ctx.accepts('html', 'json') === 'html') {
      ctx.type = 'html';
      ctx.body = renderView('error', { title: 'Not found', heading: 'Not found', message: description, code: 'not_found' });
    } else {
      ctx.body = { error: 'invalid_request', error_description: description };
    }
  };
}
