/**
 * The map is true (issue 12): every import in src/ goes down the declared layers, no two
 * folders import each other, directly or around a loop, and routes reach the database only
 * through libraries. The same table is in docs/architecture.md ("Layers"); change both together.
 *
 * A file's folder is its first path segment under src/ (a top-level file is its own "folder").
 * Static `import … from`, `export … from` and dynamic `import('…')` are read, type-only ones
 * included: a type import is coupling too. One exception: `import type` of src/context.ts, the
 * Services bag every library is handed (types vanish at run time; context.ts itself builds
 * the services from the libraries, so it sits above them).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** Lowest first. A folder may import folders of a lower layer, and peers of its own layer (without cycles). */
export const LAYERS: { name: string; folders: string[] }[] = [
  { name: 'foundation', folders: ['errors.ts', 'logger.ts', 'config', 'crypto', 'resource-server'] },
  { name: 'storage and HTTP helpers', folders: ['storage', 'http'] },
  { name: 'libraries', folders: ['accounts', 'apis', 'clients', 'keys', 'revocation', 'security', 'mail', 'readiness'] },
  { name: 'services', folders: ['context.ts'] },
  { name: 'oidc-provider', folders: ['oidc'] },
  { name: 'routes', folders: ['interactions', 'account', 'portal', 'admin', 'console', 'self-service', 'observability'] },
  { name: 'server', folders: ['server.ts'] },
  { name: 'command line', folders: ['cli'] },
];

/** Folders that talk HTTP (or the control socket): they call libraries, never storage/ (types aside). */
const ROUTES = LAYERS.find((layer) => layer.name === 'routes')!.folders;

/** The resource-server kit is published on its own (packages/resource-server): it imports nothing from the server. */
const STANDALONE = new Set(['resource-server']);

export interface Import {
  file: string;
  target: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const STATIC = /^\s*(import|export)\s+(type\s+)?([\w\s{},*$]*?)\s*from\s*['"]([^'"]+)['"]/gms;
const DYNAMIC = /import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Pure: the relative imports of one file's text, with whether each is type-only. */
export function importsOf(text: string): { specifier: string; typeOnly: boolean }[] {
  const found: { specifier: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(STATIC)) {
    const clause = m[3].trim();
    const allTypes = /^\{[^}]*\}$/.test(clause) && clause.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    found.push({ specifier: m[4], typeOnly: Boolean(m[2]) || allTypes });
  }
  for (const m of text.matchAll(DYNAMIC)) found.push({ specifier: m[1], typeOnly: false });
  return found.filter((i) => i.specifier.startsWith('.'));
}

const folderOf = (file: string) => path.relative(srcDir, file).split(path.sep)[0];
const layerOf = new Map(LAYERS.flatMap((layer, index) => layer.folders.map((folder) => [folder, index] as const)));

function allImports(): Import[] {
  return sourceFiles(srcDir).flatMap((file) =>
    importsOf(readFileSync(file, 'utf8')).map(({ specifier, typeOnly }) => ({
      file: path.relative(srcDir, file),
      target: path.relative(srcDir, path.resolve(path.dirname(file), specifier)),
      typeOnly,
    })),
  );
}

const crossesFolders = (i: Import) => folderOf(path.join(srcDir, i.file)) !== i.target.split(path.sep)[0];
const exempt = (i: Import) => i.typeOnly && i.target === 'context.ts';

test('every folder of src/ has a layer', () => {
  const folders = new Set(sourceFiles(srcDir).map(folderOf));
  const missing = [...folders].filter((f) => !layerOf.has(f));
  assert.deepEqual(missing, [], `add these to LAYERS here and in docs/architecture.md: ${missing.join(', ')}`);
});

test('no import leaves src/, goes up a layer, or reaches into the standalone kit from outside the server', () => {
  const wrong: string[] = [];
  for (const i of allImports()) {
    if (!crossesFolders(i) || exempt(i)) continue;
    if (i.target.startsWith('..')) {
      wrong.push(`${i.file} imports ${i.target}, outside src/`);
      continue;
    }
    const from = folderOf(path.join(srcDir, i.file));
    const to = i.target.split(path.sep)[0];
    if (STANDALONE.has(from)) wrong.push(`${i.file} imports ${i.target}: ${from} imports nothing from the server`);
    else if ((layerOf.get(to) ?? -1) > (layerOf.get(from) ?? -1)) {
      wrong.push(`${i.file} (${LAYERS[layerOf.get(from)!]?.name}) imports ${i.target} (${LAYERS[layerOf.get(to)!]?.name}), a higher layer`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** Pure: the imports of route folders that reach into storage/ at run time (`import type` is no call). */
export function routeImportsOfStorage(imports: readonly Import[]): string[] {
  return imports
    .filter((i) => !i.typeOnly && ROUTES.includes(folderOf(path.join(srcDir, i.file))) && i.target.split(path.sep)[0] === 'storage')
    .map((i) => `${i.file} imports ${i.target}: a route calls a library, which uses storage/`);
}

test('routes call libraries only: no route folder imports storage/ (but for types)', () => {
  assert.deepEqual(routeImportsOfStorage(allImports()), []);
});

// A loop across layers needs an upward import, which the test above reports: only imports
// between peers of one layer can close a loop it does not see.
test('no cycle between folders', () => {
  const edges = new Map<string, Map<string, string>>();
  for (const i of allImports()) {
    if (!crossesFolders(i) || exempt(i) || i.target.startsWith('..')) continue;
    const from = folderOf(path.join(srcDir, i.file));
    const to = i.target.split(path.sep)[0];
    if (layerOf.get(from) !== layerOf.get(to)) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, i.file);
  }
  // A cycle through `from` is a path back to it; report each one once by its folders.
  const cycles = new Set<string>();
  const walk = (start: string, at: string, pathSoFar: string[]) => {
    for (const [next, file] of edges.get(at) ?? []) {
      if (next === start) {
        const loop = [...pathSoFar, `${at} (${file})`];
        const key = [...loop].sort().join();
        if (![...cycles].some((c) => c.startsWith(`${key}|`))) cycles.add(`${key}|${loop.join(' → ')} → ${start}`);
      } else if (!pathSoFar.some((p) => p.startsWith(`${next} `)) && next !== at && pathSoFar.length < 8) {
        walk(start, next, [...pathSoFar, `${at} (${file})`]);
      }
    }
  };
  for (const folder of edges.keys()) walk(folder, folder, []);
  assert.deepEqual([...cycles].map((c) => c.split('|')[1]), []);
});

test('importsOf reads static, re-export, type-only and dynamic imports', () => {
  const text = [
    "import { a } from './a.ts';",
    "import type { B } from '../b/b.ts';",
    "import { type C, type D } from '../c.ts';",
    "import { type E, f } from '../e.ts';",
    "export { g } from './g.ts';",
    "const h = await import('../h/h.ts');",
    "import pg from 'pg';",
  ].join('\n');
  assert.deepEqual(importsOf(text), [
    { specifier: './a.ts', typeOnly: false },
    { specifier: '../b/b.ts', typeOnly: true },
    { specifier: '../c.ts', typeOnly: true },
    { specifier: '../e.ts', typeOnly: false },
    { specifier: './g.ts', typeOnly: false },
    { specifier: '../h/h.ts', typeOnly: false },
  ]);
});

test("routeImportsOfStorage reports a route's run-time import of storage/, not a type import or a library's", () => {
  const found = routeImportsOfStorage([
    { file: 'portal/routes.ts', target: 'storage/sql.ts', typeOnly: false },
    { file: 'self-service/routes.ts', target: 'storage/ephemeral-store.ts', typeOnly: true },
    { file: 'accounts/users.ts', target: 'storage/sql.ts', typeOnly: false },
    { file: 'portal/routes.ts', target: 'accounts/users.ts', typeOnly: false },
  ]);
  assert.deepEqual(found, ['portal/routes.ts imports storage/sql.ts: a route calls a library, which uses storage/']);
});
