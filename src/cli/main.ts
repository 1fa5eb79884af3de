import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseScopeSpec } from '../apis/api-registry.ts';
import { ConfigError, type Config } from '../config/config.ts';
import { loadConfigFromEnvironment } from '../config/load.ts';
import { InputError, NotFoundError } from '../errors.ts';
import { callControlSocket } from './control-socket.ts';
import type { OperationName } from './operations.ts';

/**
 * `latchkey <command>`: the server and its administration. Storage, oidc-provider and the
 * operations are imported only when a command needs them, so --help and control-socket calls
 * start fast. Every command takes --help and
 * --json, and exits 0 on success, 2 on bad input, 1 on any other failure.
 */
type Options = NonNullable<ParseArgsConfig['options']>;
const common: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

interface Command {
  usage: string;
  options: Options;
  operation?: OperationName;
  input?: (values: Record<string, unknown>) => Promise<unknown> | unknown;
}

const readStdin = () => readFileSync(0, 'utf8').replace(/\r?\n$/, '');

const commands: Record<string, Command> = {
  serve: { usage: 'latchkey serve\n  Starts the server (PORT, ISSUER, DATA_DIR, DATABASE_URL … from the environment or .env).', options: {} },
  migrate: { usage: 'latchkey migrate\n  Applies pending database migrations (the server also does this on start).', options: {} },
  'user create': {
    usage: 'latchkey user create --email <e-mail> --password-stdin [--role admin|developer]…\n  Creates a user; the password is read from standard input.',
    options: { email: { type: 'string' }, 'password-stdin': { type: 'boolean' }, role: { type: 'string', multiple: true } },
    operation: 'user.create',
    input: (v) => {
      if (!v.email) throw new InputError('--email is required');
      if (!v['password-stdin']) throw new InputError('--password-stdin is required (pipe the password in; it never goes on the command line)');
      return { email: v.email, password: readStdin(), roles: v.role ?? [] };
    },
  },
  'api create': {
    usage:
      'latchkey api create --name <name> --audience <uri> --scope <name>=read|write … [--token-format jwt|opaque] [--access-token-ttl <seconds>]\n  Registers an API (resource server) and its scopes. Prints the API\'s introspection client id and secret once.',
    options: { name: { type: 'string' }, audience: { type: 'string' }, scope: { type: 'string', multiple: true }, 'token-format': { type: 'string' }, 'access-token-ttl': { type: 'string' } },
    operation: 'api.create',
    input: (v) => {
      if (!v.name || !v.audience) throw new InputError('--name and --audience are required');
      const ttl = v['access-token-ttl'] === undefined ? undefined : Number(v['access-token-ttl']);
      if (ttl !== undefined && !Number.isInteger(ttl)) throw new InputError('--access-token-ttl must be a whole number of seconds');
      return {
        name: v.name,
        audience: v.audience,
        scopes: ((v.scope as string[] | undefined) ?? []).map(parseScopeSpec),
        tokenFormat: v['token-format'],
        accessTokenTtl: ttl,
      };
    },
  },
  'api list': { usage: 'latchkey api list\n  Lists registered APIs and their scopes.', options: {}, operation: 'api.list', input: () => ({}) },
  'client create': {
    usage:
      'latchkey client create --name <name> [--type web|spa|native|service] [--redirect-uri <uri>]… [--post-logout-redirect-uri <uri>]… --scope "<scopes>"\n  Registers an app. The client secret (web and service apps) is shown once.',
    options: {
      name: { type: 'string' },
      type: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      scope: { type: 'string' },
    },
    operation: 'client.create',
    input: (v) => {
      if (!v.name) throw new InputError('--name is required');
      if (v.scope === undefined) throw new InputError('--scope is required, e.g. --scope "openid offline_access notes:read notes:write"');
      return { name: v.name, type: v.type ?? 'web', redirectUris: v['redirect-uri'] ?? [], postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [], scope: v.scope };
    },
  },
  'client list': { usage: 'latchkey client list\n  Lists registered apps.', options: {}, operation: 'client.list', input: () => ({}) },
  'keys rotate': {
    usage: 'latchkey keys rotate\n  Adds new signing keys; previous ones stay published until tokens they signed have expired.',
    options: {},
    operation: 'keys.rotate',
    input: () => ({}),
  },
};

function overview(): string {
  return ['Usage: latchkey <command> [options]   (each command takes --help and --json)', '', ...Object.values(commands).map((c) => `  ${c.usage.split('\n')[0]}`)].join('\n');
}

function print(result: unknown, json: boolean) {
  if (json) return console.log(JSON.stringify(result, null, 2));
  if (Array.isArray(result)) {
    if (!result.length) return console.log('(none)');
    for (const row of result) console.log(Object.entries(row as object).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join('  '));
    return;
  }
  for (const [key, value] of Object.entries(result as object)) console.log(`${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`);
  if (result && typeof result === 'object' && ('client_secret' in result || 'introspection_client_secret' in result)) {
    console.log('\nStore the client secret now: it is not shown again.');
  }
}

async function runOperation(config: Config, name: OperationName, input: unknown): Promise<unknown> {
  if (!config.databaseUrl) {
    const answer = await callControlSocket(config.dataDir, name, input);
    if (answer) {
      if (answer.error !== undefined) throw new InputError(answer.error);
      return answer.result;
    }
  }
  const [{ createServices }, { createLogger }, { buildProvider }, { clientMetadataValidator }, { createOperations }] = await Promise.all([
    import('../context.ts'),
    import('../logger.ts'),
    import('../oidc/build.ts'),
    import('../oidc/client-validation.ts'),
    import('./operations.ts'),
  ]);
  const services = await createServices(config, { logger: createLogger({ logLevel: 'warn' }) });
  try {
    const provider = name === 'client.create' || name === 'api.create' ? (await buildProvider(services)).provider : undefined;
    const run = createOperations(services, clientMetadataValidator(() => provider!));
    return await run(name, input);
  } finally {
    await services.db.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const key = commands[`${words[0]} ${words[1]}`] ? `${words[0]} ${words[1]}` : words[0];
  const command = key ? commands[key] : undefined;
  if (!command) {
    if (!key && (argv.includes('--help') || argv.includes('-h'))) {
      console.log(overview());
      return 0;
    }
    console.error(key ? `unknown command "${argv.join(' ')}"\n\n${overview()}` : overview());
    return 2;
  }
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv.slice(key!.split(' ').length), options: { ...common, ...command.options }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n\nUsage: ${command.usage}`);
    return 2;
  }
  if (values.help) {
    console.log(`Usage: ${command.usage}\n\nOptions: ${Object.keys({ ...command.options, ...common }).map((o) => `--${o}`).join(' ')}`);
    return 0;
  }
  const json = Boolean(values.json);
  try {
    const config = loadConfigFromEnvironment();
    if (key === 'serve') {
      const { startServer } = await import('../server.ts');
      const server = await startServer(config);
      const stop = async () => {
        await server.close();
        process.exit(0);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      return -1;
    }
    if (key === 'migrate') {
      const [{ openDatabase }, { migrate }] = await Promise.all([import('../storage/database.ts'), import('../storage/migrator.ts')]);
      const db = await openDatabase(config);
      try {
        const { applied } = await migrate(db.sql);
        print({ applied }, json);
      } finally {
        await db.close();
      }
      return 0;
    }
    const input = await command.input!(values);
    print(await runOperation(config, command.operation!, input), json);
    return 0;
  } catch (error) {
    const expected =
      error instanceof InputError || error instanceof NotFoundError || error instanceof ConfigError || (error as Error).name === 'EmbeddedDatabaseBusyError';
    const message =
      (error as Error).name === 'EmbeddedDatabaseBusyError'
        ? `${(error as Error).message}, and no server answers on its control socket; stop that process or set DATABASE_URL`
        : expected
          ? (error as Error).message
          : `unexpected error: ${(error as Error).message}`;
    if (json) console.error(JSON.stringify({ error: message }));
    else console.error(`latchkey: ${message}`);
    return expected ? 2 : 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
