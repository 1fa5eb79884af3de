/**
 * Latchkey's redirect-URI rules, on top of oidc-provider's own metadata validation
 * (RFC 9700 §2.1, §4.1.3; RFC 8252 for native apps). Returns a reason, or undefined when fine.
 */
export type RedirectUriKind = 'web' | 'native';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]']);

export function redirectUriProblem(uri: string, kind: RedirectUriKind): string | undefined {
  if (uri.length > 2000) return 'redirect URI is longer than 2000 characters';
  if (uri.includes('*')) return 'redirect URIs must be exact; wildcards are not allowed';
  if (uri.includes('#')) return 'redirect URIs must not contain a fragment';
  const url = URL.parse(uri);
  if (!url) return `redirect URI "${uri}" is not an absolute URI`;
  const scheme = url.protocol.slice(0, -1);
  if (['javascript', 'data', 'vbscript', 'file', 'blob'].includes(scheme)) return `redirect URIs may not use the ${scheme}: scheme`;
  if (url.username || url.password) return 'redirect URIs must not contain credentials';
  if (scheme === 'https') return undefined;
  if (scheme === 'http') {
    if (LOOPBACK_HOSTS.has(url.hostname)) return undefined;
    if (url.hostname === 'localhost' && kind === 'web') return undefined; // local development of web apps
    return 'redirect URIs must use https (http is allowed only for loopback: 127.0.0.1 or [::1])';
  }
  // RFC 8252 §7.1: private-use schemes in reverse-domain form, for native apps only.
  if (kind === 'native' && scheme.includes('.')) return undefined;
  return kind === 'native'
    ? `custom scheme "${scheme}:" must be a reverse domain name (e.g. com.example.app:)`
    : 'redirect URIs must use https';
}
