/**
 * Builds the kit's plain JavaScript and type declarations from ../../src/resource-server into
 * dist/ (run by `npm pack` / `npm publish` through "prepack"): tsc compiles each module to an
 * ES module for Node 20+ with `./x.ts` imports rewritten to `./x.js`; the declarations get the
 * same rewrite, so a project without allowImportingTsExtensions type-checks against them.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const tsc = createRequire(path.join(here, '../../package.json')).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.json')], { stdio: 'inherit' });
if (result.status !== 0) {
  console.error('@latchkey/resource-server: tsc failed');
  process.exit(1);
}
for (const name of readdirSync(dist).filter((n) => n.endsWith('.d.ts'))) {
  const file = path.join(dist, name);
  writeFileSync(file, readFileSync(file, 'utf8').replace(/(from\s+['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2'));
}
console.error(`@latchkey/resource-server: built ${readdirSync(dist).length} files into dist/`);
