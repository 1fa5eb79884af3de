import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientMetadataProblem, clientTypeOf, machineApprovalsKept, newClientId, originProblem, parseDuration, splitScope } from '../../src/clients/client-rules.ts';

const web = { application_type: 'web', redirect_uris: ['https://app.example.com/cb'] };

test('redirect problems are invalid_redirect_uri, others invalid_client_metadata', () => {
  assert.equal(clientMetadataProblem(web), undefined);
  assert.equal(clientMetadataProblem({ ...web, redirect_uris: ['https://app.example.com/cb#f'] })?.code, 'invalid_redirect_uri');
  assert.equal(clientMetadataProblem({ ...web, logo_uri: 'http://x.example.com/l.png' })?.code, 'invalid_client_metadata');
  assert.equal(clientMetadataProblem({ ...web, latchkey_resource_server_audience: 'x' })?.code, 'invalid_client_metadata');
  assert.equal(clientMetadataProblem({ ...web, jwks_uri: 'https://x.example.com/jwks' })?.code, 'invalid_client_metadata');
  assert.equal(clientMetadataProblem({ ...web, client_name: 'x'.repeat(101) })?.code, 'invalid_client_metadata');
  assert.equal(clientMetadataProblem({ application_type: 'native', redirect_uris: ['com.example.app:/cb', 'http://127.0.0.1:9/cb'] }), undefined);
});

test('types, scopes, origins, durations, ids', () => {
  assert.equal(clientTypeOf({ grant_types: ['client_credentials'] }), 'service');
  assert.equal(clientTypeOf({ token_endpoint_auth_method: 'none', application_type: 'native' }), 'native');
  assert.equal(clientTypeOf({ token_endpoint_auth_method: 'none' }), 'spa');
  assert.equal(clientTypeOf({}), 'web');
  assert.deepEqual(splitScope('openid notes:read openid'), { oidc: ['openid'], api: ['notes:read'] });
  assert.equal(originProblem('https://app.example.com'), undefined);
  assert.ok(originProblem('https://app.example.com/'));
  assert.ok(originProblem('http://app.example.com'));
  assert.equal(parseDuration('24h'), 86400);
  assert.equal(parseDuration('bad'), undefined);
  for (let i = 0; i < 200; i++) assert.match(newClientId(), /^[A-Za-z0-9]/);
});

test('machine approvals an app change keeps: those of the scopes it still asks for, none once it drops client_credentials', () => {
  const service = { grant_types: ['client_credentials'] };
  assert.deepEqual(machineApprovalsKept(service, ['s1', 's2']), ['s1', 's2']);
  assert.deepEqual(machineApprovalsKept(service, []), []);
  assert.deepEqual(machineApprovalsKept({ grant_types: ['authorization_code', 'refresh_token'] }, ['s1']), []);
  assert.deepEqual(machineApprovalsKept({ grant_types: ['authorization_code', 'client_credentials'] }, ['s1']), ['s1']);
  assert.deepEqual(machineApprovalsKept({}, ['s1']), [], 'no grant_types: oidc-provider defaults to authorization_code');
});
