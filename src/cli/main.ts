/**
 * The entry point of `latchkey` (`node dist/cli/main.js <command>`, `npm start`, src/cli/bin.js).
 * It only turns Node's compile cache on before anything else loads (compile-cache.ts); the
 * commands are in commands.ts.
 */
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
const { main } = await import('./commands.ts');
const code = await main(process.argv.slice(2));
// -1: `serve` keeps running
if (code >= 0) process.exit(code);
