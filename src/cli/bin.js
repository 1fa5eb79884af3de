#!/usr/bin/env node
// The `latchkey` command. Latchkey is written in TypeScript and runs through tsx; this shim
// registers it and hands over to src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
