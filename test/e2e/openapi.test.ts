/**
 * /admin/api/openapi.json (issue 14) describes exactly the admin API: every route in the admin
 * routers' stacks is a documented operation and every documented operation is a route the
 * running server answers (its auth check: 401 without credentials, where an unknown path is a
 * 404). That each operation's real answer matches its documented schema is checked by
 * admin-api.test.ts, which calls every operation through test/support/admin-api.ts.
 */
// test-once: the document and the routes it is compared with are the same whatever database the server uses
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adminApiRouters, OPENAPI_PATH } from '../../src/admin/admin-api.ts';
import { openApiPath } from '../../src/admin/openapi.ts';
import { routesOfRouter } from '../../src/http/route-table.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

let latchkey: Latchkey;
let document: any;

before(async () => {
  latchkey = await startLatchkey({ ADMIN_API_TOKEN: 'admin-token-for-openapi-0123456789' });
  const res = await fetch(`${latchkey.issuer}${OPENAPI_PATH}`);
  assert.equal(res.status, 200);
  document = await res.json();
});
after(async () => latchkey?.stop());

const documented = () =>
  Object.entries<any>(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)).sort();

test('an OpenAPI 3.1 document with a unique operationId, parameters and answers for each operation', () => {
  assert.equal(document.openapi, '3.1.0');
  const ids = Object.values<any>(document.paths).flatMap((methods) => Object.values<any>(methods).map((op) => op.operationId));
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.length >= 28, `${ids.length} operations`);
  for (const [path, methods] of Object.entries<any>(document.paths)) {
    for (const op of Object.values<any>(methods)) {
      for (const name of path.match(/\{([^}]+)\}/g) ?? []) {
        assert.ok(op.parameters?.some((p: any) => p.in === 'path' && `{${p.name}}` === name), `${op.operationId} documents ${name}`);
      }
      assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${op.operationId} documents its success`);
      assert.ok(op.responses['400'] && op.responses['401'], `${op.operationId} documents its errors`);
    }
  }
});

test("every route in the admin routers' stacks is documented, and nothing else is", () => {
  const fake = { config: { issuer: 'http://localhost' } } as any;
  const routes = adminApiRouters(fake, {} as any, async (m) => m)
    .flatMap(([, router]) => routesOfRouter(router))
    .filter((r) => r.path !== OPENAPI_PATH)
    .map((r) => `${r.method} ${openApiPath('', r.path)}`)
    .sort();
  assert.deepEqual([...new Set(routes)], documented());
});

test('every documented operation exists on the running server (401 without credentials, not 404)', async () => {
  for (const entry of documented()) {
    const [method, path] = entry.split(' ') as [string, string];
    const url = `${latchkey.issuer}${path.replace(/\{[^}]+\}/g, 'some-id')}`;
    const res = await fetch(url, { method });
    assert.equal(res.status, 401, entry);
  }
  assert.equal((await fetch(`${latchkey.issuer}/admin/api/nothing-here`)).status, 404);
});
