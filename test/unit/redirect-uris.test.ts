/**
 * Registration-time redirect-URI rules (src/clients/redirect-uri-rules.ts; RFC 9700 §2.1,
 * §4.1.3, RFC 8252) and the pure consent model (src/apis/consent-model.ts) that decides
 * what the consent screen lists and what a "read-only" choice grants (security rules 15, 16).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiInfo } from '../../src/apis/api-store.ts';
import { redirectUriProblem, type RedirectUriKind } from '../../src/clients/redirect-uri-rules.ts';
import { describeAccess, describeIdentityScopes, requestedApis, resolveChoice, type ApiRequest } from '../../src/apis/consent-model.ts';

describe('redirectUriProblem: accepted', () => {
  const accepted: Array<[string, RedirectUriKind[]]> = [
    ['https://app.example.com/callback', ['web', 'native']],
    ['https://app.example.com:8443/cb?tenant=a', ['web', 'native']],
    ['http://127.0.0.1:8080/callback', ['web', 'native']],
    ['http://127.0.0.1/callback', ['web', 'native']],
    ['http://[::1]:53682/cb', ['web', 'native']],
    ['com.example.app:/cb', ['native']],
    ['com.example.app:/oauth2redirect/latchkey', ['native']],
    ['http://localhost:3000/callback', ['web']],
  ];
  for (const [uri, kinds] of accepted) {
    for (const kind of kinds) {
      test(`${kind}: ${uri}`, () => assert.equal(redirectUriProblem(uri, kind), undefined));
    }
  }
});

describe('redirectUriProblem: refused', () => {
  const refused: Array<[string, string, RedirectUriKind[], RegExp]> = [
    ['a fragment', 'https://app.example.com/cb#frag', ['web', 'native'], /fragment/],
    ['an empty fragment', 'https://app.example.com/cb#', ['web', 'native'], /fragment/],
    ['a wildcard host', 'https://*.example.com/cb', ['web', 'native'], /wildcard/],
    ['a wildcard path', 'https://app.example.com/*', ['web', 'native'], /wildcard/],
    ['javascript:', 'javascript:alert(document.cookie)', ['web', 'native'], /javascript/],
    ['javascript: in capitals', 'JavaScript:alert(1)//', ['web', 'native'], /javascript/],
    ['data:', 'data:text/html,<script>alert(1)</script>', ['web', 'native'], /data/],
    ['vbscript:', 'vbscript:msgbox(1)', ['web', 'native'], /vbscript/],
    ['file:', 'file:///etc/passwd', ['web', 'native'], /file/],
    ['http to a non-loopback host', 'http://app.example.com/cb', ['web', 'native'], /https/],
    ['http to a private address', 'http://192.168.1.10/cb', ['web', 'native'], /https/],
    ['http to a look-alike of 127.0.0.1', 'http://127.0.0.1.evil.example/cb', ['web', 'native'], /https/],
    ['http://localhost for a native app (RFC 8252 §8.3: use the loopback IP)', 'http://localhost:8080/cb', ['native'], /loopback/],
    ['a custom scheme for a web app', 'com.example.app:/cb', ['web'], /https/],
    ['a custom scheme that is not a reverse domain name', 'myapp:/cb', ['native'], /reverse domain/],
    ['credentials in the URI', 'https://user:pass@app.example.com/cb', ['web', 'native'], /credentials/],
    ['a user name alone in the URI', 'https://admin@app.example.com/cb', ['web', 'native'], /credentials/],
    ['credentials on a loopback URI', 'http://user:pw@127.0.0.1:8080/cb', ['web', 'native'], /credentials/],
    ['a relative URI', '/callback', ['web', 'native'], /absolute/],
    ['an empty string', '', ['web', 'native'], /absolute/],
    ['an over-long URI', `https://app.example.com/${'a'.repeat(2000)}`, ['web', 'native'], /2000/],
  ];
  for (const [what, uri, kinds, reason] of refused) {
    for (const kind of kinds) {
      test(`${kind}: ${what}`, () => {
        const problem = redirectUriProblem(uri, kind);
        assert.ok(problem, `${uri} must be refused for ${kind}`);
        assert.match(problem, reason);
      });
    }
  }
});

const notes: ApiInfo = {
  id: 'api-notes',
  name: 'Notes',
  audience: 'https://api.example.com/notes',
  tokenFormat: 'jwt',
  accessTokenTtl: 600,
  scopes: [
    { name: 'notes:read', access: 'read', description: 'Read your notes' },
    { name: 'notes:write', access: 'write', description: 'Change your notes' },
  ],
};
const calendar: ApiInfo = {
  id: 'api-calendar',
  name: 'Calendar',
  audience: 'https://api.example.com/calendar',
  tokenFormat: 'opaque',
  accessTokenTtl: 300,
  scopes: [{ name: 'calendar:read', access: 'read', description: 'Read your calendar' }],
};
const apiByAudience = (audience: string) => [notes, calendar].find((a) => a.audience === audience);

describe('consent model: requestedApis', () => {
  test('lists each API missing consent with the requested scopes the client may get', () => {
    const apis = requestedApis({
      requestedScope: 'openid notes:read notes:write calendar:read',
      resourcesInRequest: [],
      missingResourceScopes: { [notes.audience]: ['notes:read', 'notes:write'], [calendar.audience]: ['calendar:read'] },
      apiByAudience,
      allowedScopes: new Set(['notes:read', 'notes:write', 'calendar:read']),
    });
    assert.deepEqual(apis.map((a) => a.name).sort(), ['Calendar', 'Notes']);
    const n = apis.find((a) => a.name === 'Notes')!;
    assert.deepEqual(n.scopes.map((s) => s.name), ['notes:read', 'notes:write']);
    assert.equal(n.writeRequested, true);
    assert.equal(n.audience, notes.audience);
    assert.equal(apis.find((a) => a.name === 'Calendar')!.writeRequested, false);
  });

  test('scopes the client was not assigned never reach the consent screen', () => {
    const apis = requestedApis({
      requestedScope: 'notes:read notes:write',
      resourcesInRequest: [],
      missingResourceScopes: { [notes.audience]: ['notes:read', 'notes:write'] },
      apiByAudience,
      allowedScopes: new Set(['notes:read']),
    });
    assert.equal(apis.length, 1);
    assert.deepEqual(apis[0]!.scopes.map((s) => s.name), ['notes:read']);
    assert.equal(apis[0]!.writeRequested, false);
  });

  test('scopes not requested, unknown audiences and APIs with nothing left are dropped', () => {
    const apis = requestedApis({
      requestedScope: 'openid notes:read',
      resourcesInRequest: [],
      missingResourceScopes: { [notes.audience]: ['notes:read'], 'https://unknown.example.com': ['x'], [calendar.audience]: ['calendar:read'] },
      apiByAudience,
      allowedScopes: new Set(['notes:read', 'notes:write', 'calendar:read']),
    });
    assert.deepEqual(apis.map((a) => [a.name, a.scopes.map((s) => s.name)]), [['Notes', ['notes:read']]]);
  });

  test('prompt=consent: resources in the request count even when already consented', () => {
    const input = {
      requestedScope: 'notes:read notes:write',
      missingResourceScopes: {},
      apiByAudience,
      allowedScopes: new Set(['notes:read', 'notes:write']),
    };
    assert.deepEqual(requestedApis({ ...input, resourcesInRequest: [] }), []);
    const again = requestedApis({ ...input, resourcesInRequest: [notes.audience] });
    assert.deepEqual(again.map((a) => a.name), ['Notes']);
    assert.equal(again[0]!.writeRequested, true);
  });
});

describe('consent model: resolveChoice and describeAccess', () => {
  const request: ApiRequest = { name: notes.name, audience: notes.audience, scopes: notes.scopes, writeRequested: true };

  test('read-only grants the read scopes and rejects the write scopes', () => {
    assert.deepEqual(resolveChoice(request, 'read-only'), { grant: ['notes:read'], reject: ['notes:write'] });
  });

  test('read-write grants everything requested', () => {
    assert.deepEqual(resolveChoice(request, 'read-write'), { grant: ['notes:read', 'notes:write'], reject: [] });
  });

  test('a write-only request narrowed to read-only grants nothing', () => {
    const writeOnly: ApiRequest = { ...request, scopes: [notes.scopes[1]!] };
    assert.deepEqual(resolveChoice(writeOnly, 'read-only'), { grant: [], reject: ['notes:write'] });
  });

  test('describeAccess says "Read-only" or "Read and write" in plain words', () => {
    assert.equal(describeAccess(notes, ['notes:read']), 'Read-only');
    assert.equal(describeAccess(notes, ['notes:read', 'notes:write']), 'Read and write');
    assert.equal(describeAccess(notes, ['notes:write']), 'Read and write');
    assert.equal(describeAccess(notes, ['openid', 'calendar:read']), undefined);
    assert.equal(describeAccess(notes, []), undefined);
  });

  test('describeIdentityScopes words the claims of the OpenID scopes and ignores API scopes', () => {
    const words = describeIdentityScopes('openid email offline_access notes:read');
    assert.equal(words.length, 4);
    assert.match(words.join('\n'), /who you are/);
    assert.match(words.join('\n'), /how you signed in/);
    assert.doesNotMatch(describeIdentityScopes('openid profile').join('\n'), /e-mail|profile/, 'profile releases no claim; e-mail only with its scope');
    assert.match(words.join('\n'), /e-mail/);
    assert.match(words.join('\n'), /revoke/);
    assert.deepEqual(describeIdentityScopes('notes:read'), []);
  });
});
