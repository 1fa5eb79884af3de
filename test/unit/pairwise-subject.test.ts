/**
 * Pairwise subjects (src/oidc/pairwise-subject.ts): the sector rules, the HMAC, and the kit's
 * refusal to take an app's pairwise `sub` for a user (src/resource-server/).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { subjectMetadataFor, subjectTypeFor } from '../../src/clients/client-rules.ts';
import { applyConsent } from '../../src/interactions/apply-consent.ts';
import { pairwiseSubjects, sectorOf } from '../../src/oidc/pairwise-subject.ts';
import { resolvePairwiseSubject } from '../../src/resource-server/pairwise-subject.ts';
import { describeClaims } from '../../src/resource-server/verified-access-token.ts';

const app = (redirectUris: string[], clientId = 'client-1') => ({ clientId, redirectUris });

describe('sectorOf', () => {
  test('one real host is the sector, whatever the path, port or scheme', () => {
    assert.equal(sectorOf(app(['https://app.example.com/callback'])), 'host:app.example.com');
    assert.equal(sectorOf(app(['https://app.example.com/a', 'https://app.example.com:8443/b', 'http://APP.example.com/c'])), 'host:app.example.com');
  });

  test('several hosts, loopback, localhost names or a custom scheme: the app is a sector of its own', () => {
    for (const uris of [
      ['https://evil.example/cb', 'https://victim.example/cb'],
      ['http://127.0.0.1/callback'],
      ['http://[::1]:8080/callback'],
      ['http://localhost:3000/callback'],
      ['http://dev.localhost/callback'],
      ['com.example.app:/callback'],
      ['https://app.example.com/cb', 'http://127.0.0.1/cb'],
      [],
    ]) {
      assert.equal(sectorOf(app(uris, 'abc')), 'client:abc', uris.join(' '));
    }
  });
});

describe('pairwiseSubjects', () => {
  test('stable for a sector, different across sectors and users, not the account id, keyed by the secret', () => {
    const secret = randomBytes(32);
    const subject = pairwiseSubjects(secret);
    const alice = '2b0d5b6e-5d7c-4a8e-9f3c-1d2e3f4a5b6c';
    const bob = '7c1e9a2f-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
    assert.equal(subject(alice, 'host:a.example'), subject(alice, 'host:a.example'));
    assert.notEqual(subject(alice, 'host:a.example'), subject(alice, 'host:b.example'));
    assert.notEqual(subject(alice, 'host:a.example'), subject(bob, 'host:a.example'));
    assert.notEqual(subject(alice, 'host:a.example'), alice);
    assert.notEqual(pairwiseSubjects(randomBytes(32))(alice, 'host:a.example'), subject(alice, 'host:a.example'), 'another secret, another subject');
    // The separator keeps (sector, account) pairs apart: "host:a" + "b…" is not "host:ab" + "…".
    assert.notEqual(subject('b1', 'host:a'), subject('1', 'host:ab'));
    assert.match(subject(alice, 'host:a.example'), /^[\w-]{43}$/);
    assert.throws(() => pairwiseSubjects(randomBytes(16)), /32 bytes/);
  });
});

describe('subject type of an app', () => {
  test('pairwise unless first-party; public for apps without users', () => {
    const web = { client_id: 'w', redirect_uris: ['https://a.example/cb'] };
    assert.equal(subjectTypeFor(web, false), 'pairwise');
    assert.equal(subjectTypeFor(web, true), 'public');
    assert.equal(subjectTypeFor({ client_id: 's', redirect_uris: [] }, false), 'public', 'a service app has no users');
    assert.deepEqual(subjectMetadataFor(web, false), { subject_type: 'pairwise' });
    const twoHosts = subjectMetadataFor({ client_id: 'm', redirect_uris: ['https://a.example/cb', 'https://b.example/cb'] }, false);
    assert.equal(twoHosts.subject_type, 'pairwise');
    assert.match(String(twoHosts.sector_identifier_uri), /^https:\/\/sector\.invalid\/m$/);
  });
});

describe('the kit and pairwise access tokens', () => {
  const claims = { sub: 'pairwise-of-app', client_id: 'app', subject_type: 'pairwise', scope: 'notes:read', aud: 'https://notes.example.com/api', exp: 2e9 };

  test("a JWT's pairwise sub is never handed over as the user", () => {
    const token = describeClaims(claims, 'jwt');
    assert.equal(token.kind, 'user');
    assert.equal(token.subject, undefined);
    assert.equal(describeClaims({ ...claims, subject_type: undefined }, 'jwt').subject, 'pairwise-of-app', 'a first-party token names the user');
  });

  test('without introspection credentials the user cannot be resolved: invalid_token', async () => {
    await assert.rejects(
      resolvePairwiseSubject('a.b.c', describeClaims(claims, 'jwt'), { issuer: 'https://login.example.com', audience: claims.aud }),
      (error: Error & { code?: string }) => error.code === 'invalid_token' && /introspection/.test(error.message),
    );
  });
});

describe('consent grants only the claims it showed', () => {
  test('a claim outside the granted scopes (email without the email scope) is refused, not granted unseen', () => {
    const added: string[] = [];
    const rejected: string[] = [];
    const grant = {
      openid: { scope: '' },
      addOIDCScope(scope: string) { this.openid.scope = scope; },
      getOIDCScope() { return this.openid.scope; },
      addOIDCClaims(claims: string[]) { added.push(...claims); },
      rejectOIDCClaims(claims: string[]) { rejected.push(...claims); },
    };
    applyConsent(grant as never, { missingOIDCScope: ['openid'], missingOIDCClaims: ['email', 'auth_time', 'acr'], apis: [], choices: new Map() });
    assert.deepEqual(added, ['auth_time', 'acr']);
    assert.deepEqual(rejected, ['email']);
    added.length = rejected.length = 0;
    applyConsent(grant as never, { missingOIDCScope: ['openid', 'email'], missingOIDCClaims: ['email'], apis: [], choices: new Map() });
    assert.deepEqual([added, rejected], [['email'], []]);
  });
});
