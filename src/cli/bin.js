#!/usr/bin/env node
// The `latchkey` command. Latchkey is written in TypeScript and runs as plain JavaScript compiled
// into dist/ (scripts/build.js, run by `npm install`); a checkout whose sources changed since is
// recompiled first (a fraction of a second), so this never runs stale code.
import { ensureBuilt } from '../../scripts/build.js';

await ensureBuilt();
await import('../../dist/cli/main.js');
