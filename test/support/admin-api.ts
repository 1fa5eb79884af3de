/**
 * A client for Latchkey's admin API that checks every answer against the OpenAPI document the
 * server publishes (/admin/api/openapi.json): the success body against the operation's
 * response schema (JSON Schema 2020-12, validated with Ajv), an error body against the error
 * schema. It records which operations it saw succeed, so a test can require all of them.
 */
import assert from 'node:assert/strict';
import Ajv2020Module from 'ajv/dist/2020.js';

const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (options: object) => {
  validate(schema: object, data: unknown): boolean;
  errorsText(): string;
};

export interface AdminAnswer<T = any> {
  status: number;
  body: T;
}

export interface AdminCall {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /** credentials: the admin token by default; `null` for none; other headers (cookie, X-Latchkey-Admin) */
  headers?: Record<string, string> | null;
}

export async function adminApiClient(issuer: string, token: string) {
  const document = (await (await fetch(`${issuer}/admin/api/openapi.json`)).json()) as any;
  const ajv = new Ajv2020({ strict: false });
  const operations = new Map<string, { method: string; path: string; op: any }>();
  for (const [path, methods] of Object.entries<any>(document.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) operations.set(op.operationId, { method, path, op });
  }
  const succeeded = new Set<string>();

  async function call<T = any>(operationId: string, init: AdminCall = {}): Promise<AdminAnswer<T>> {
    const found = operations.get(operationId);
    assert.ok(found, `the document has an operation ${operationId}`);
    const path = found.path.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(init.params?.[name] ?? assert.fail(`${operationId}: path parameter ${name}`)));
    const url = new URL(path, issuer);
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = init.headers === null ? {} : (init.headers ?? { authorization: `Bearer ${token}` });
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url, { method: found.method.toUpperCase(), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
    const text = await res.text();
    assert.ok(res.status < 500, `${operationId} answered ${res.status}: ${text.slice(0, 300)}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, `${operationId} answers JSON`);
    const body = JSON.parse(text);
    const documented = found.op.responses[String(res.status)];
    assert.ok(documented, `${operationId}: status ${res.status} is documented (${text.slice(0, 200)})`);
    const schema = res.status < 300 ? documented.content['application/json'].schema : document.components.schemas.Error;
    assert.ok(ajv.validate(schema, body), `${operationId} ${res.status}: the answer matches its documented schema: ${JSON.stringify((ajv as any).errors)}\n${text.slice(0, 500)}`);
    if (res.status < 300) succeeded.add(operationId);
    return { status: res.status, body };
  }

  return { document, call, operations, succeeded };
}
