import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseScopeSpec } from '../apis/scope-spec.ts';
import { ConfigError, type Config } from '../config/config.ts';
import { loadConfigFromEnvironment } from '../config/load.ts';
import { answerFor, ERROR_KINDS, errorOfKind, InputError } from '../errors.ts';
import { adminCommands } from './admin-commands.ts';
import { callControlSocket } from '../admin/control-socket.ts';
import type { OperationName } from '../admin/operation-table.ts';

/**
 * `latchkey <command>` (started by main.ts): the server and its administration. Storage, oidc-provider and the
 * operations are imported only when a command needs them, so --help and control-socket calls
 * start fast. Every command takes --help and
 * --json, and exits 0 on success, 2 on bad input, 1 on any other failure.
 */
type Options = NonNullable<ParseArgsConfig['options']>;
const common: Options = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };
/** Commands that work on the database also take --init: create the embedded database if DATA_DIR has none (database-target.ts). */
const databaseCommonOptions: Options = { init: { type: 'boolean' } };

interface Command {
  usage: string;
  options: Options;
  operation?: OperationName;
  /** the operation's input, from the parsed flags; `stdin()` is standard input without its final line break */
  input?: (values: Record<string, unknown>, stdin: () => string) => Promise<unknown> | unknown;
  /** the one positional argument this command takes (e.g. a client id), as values[positional] */
  positional?: string;
  /** a command that runs here rather than as an operation (perform), printing its own result */
  run?: (values: Record<string, unknown>, config: Config, json: boolean) => Promise<void>;
}

const withoutFinalLineBreak = (text: string) => text.replace(/\r?\n$/, '');
const readStdin = () => withoutFinalLineBreak(readFileSync(0, 'utf8'));

function clientIdCommand(verb: string, summary: string): Record<string, Command> {
  return {
    [`client ${verb}`]: {
      usage: `latchkey client ${verb} <client-id>\n  ${summary}`,
      options: {},
      operation: `client.${verb}` as OperationName,
      positional: 'clientId',
      input: (v) => {
        if (!v.clientId) throw new InputError('the client id is required');
        return { clientId: v.clientId };
      },
    },
  };
}

function machineAccessCommand(verb: string, summary: string): Command {
  return {
    usage: `latchkey client ${verb} <client-id> --api <audience>\n  ${summary}`,
    options: { api: { type: 'string' } },
    operation: `client.${verb}` as OperationName,
    positional: 'clientId',
    input: (v) => {
      if (!v.clientId) throw new InputError('the client id is required');
      if (!v.api) throw new InputError('--api <audience> is required');
      return { clientId: v.clientId, api: v.api };
    },
  };
}

function secondsFlag(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isInteger(seconds)) throw new InputError('--access-token-ttl must be a whole number of seconds');
  return seconds;
}

const commands: Record<string, Command> = {
  serve: { usage: 'latchkey serve\n  Starts the server (PORT, ISSUER, DATA_DIR, DATABASE_URL … from the environment or .env).', options: {} },
  migrate: { usage: 'latchkey migrate\n  Applies pending database migrations (the server also does this on start).', options: {} },
  'user create': {
    usage: 'latchkey user create --email <e-mail> --password-stdin [--role admin|developer]…\n  Creates a user; the password is read from standard input.',
    options: { email: { type: 'string' }, 'password-stdin': { type: 'boolean' }, role: { type: 'string', multiple: true } },
    operation: 'user.create',
    input: (v, stdin) => {
      if (!v.email) throw new InputError('--email is required');
      if (!v['password-stdin']) throw new InputError('--password-stdin is required (pipe the password in; it never goes on the command line)');
      return { email: v.email, password: stdin(), roles: v.role ?? [] };
    },
  },
  'user invite': {
    usage:
      'latchkey user invite --email <e-mail> [--role admin|developer]…\n  Creates the account and e-mails its owner a link (72 hours) to choose a password (SIGNUP=invite or open; docs/end-users.md).',
    options: { email: { type: 'string' }, role: { type: 'string', multiple: true } },
    operation: 'user.invite',
    input: (v) => {
      if (!v.email) throw new InputError('--email is required');
      return { email: v.email, roles: v.role ?? [] };
    },
  },
  'user disable': {
    usage: 'latchkey user disable --email <e-mail>\n  Disables a user: no sign-in, sessions ended, refresh and JWT access tokens refused (via the revocation feed).',
    options: { email: { type: 'string' } },
    operation: 'user.disable',
    input: (v) => {
      if (!v.email) throw new InputError('--email is required');
      return { email: v.email };
    },
  },
  'user unlock': {
    usage: 'latchkey user unlock --email <e-mail>\n  Ends an account\'s lock-outs: lifts its sign-in suspensions and lets its second-factor codes be checked again (after 100 wrong codes in a row they are not).',
    options: { email: { type: 'string' } },
    operation: 'user.unlock',
    input: (v) => {
      if (!v.email) throw new InputError('--email is required');
      return { email: v.email };
    },
  },
  'api create': {
    usage:
      'latchkey api create --name <name> --audience <uri> --scope <name>=read|write … [--machine-scope <name>]… [--token-format jwt|opaque] [--access-token-ttl <seconds>]\n  Registers an API (resource server) and its scopes. Prints the API\'s introspection client id and secret once.\n  --machine-scope: a scope client_credentials (machine) tokens may carry, for clients an operator approves; none by default.',
    options: {
      name: { type: 'string' },
      audience: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'machine-scope': { type: 'string', multiple: true },
      'token-format': { type: 'string' },
      'access-token-ttl': { type: 'string' },
    },
    operation: 'api.create',
    input: (v) => {
      if (!v.name || !v.audience) throw new InputError('--name and --audience are required');
      return {
        name: v.name,
        audience: v.audience,
        scopes: ((v.scope as string[] | undefined) ?? []).map(parseScopeSpec),
        machineScopes: v['machine-scope'] ?? [],
        tokenFormat: v['token-format'],
        accessTokenTtl: secondsFlag(v['access-token-ttl']),
      };
    },
  },
  'api update': {
    usage:
      'latchkey api update --audience <uri> [--name <name>] [--scope <name>=read|write]… [--machine-scope <name>]… [--no-machine-access] [--access-token-ttl <seconds>]\n  Changes an API. --scope adds scopes; --machine-scope sets the complete list of scopes machines (client_credentials) may get; --no-machine-access clears it.',
    options: {
      audience: { type: 'string' },
      name: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'machine-scope': { type: 'string', multiple: true },
      'no-machine-access': { type: 'boolean' },
      'access-token-ttl': { type: 'string' },
    },
    operation: 'api.update',
    input: (v) => {
      if (!v.audience) throw new InputError('--audience is required');
      if (v['machine-scope'] && v['no-machine-access']) throw new InputError('--machine-scope and --no-machine-access exclude each other');
      return {
        audience: v.audience,
        name: v.name,
        addScopes: ((v.scope as string[] | undefined) ?? []).map(parseScopeSpec),
        machineScopes: v['no-machine-access'] ? [] : v['machine-scope'],
        accessTokenTtl: secondsFlag(v['access-token-ttl']),
      };
    },
  },
  'api list': { usage: 'latchkey api list\n  Lists registered APIs and their scopes.', options: {}, operation: 'api.list', input: () => ({}) },
  'client create': {
    usage:
      'latchkey client create --name <name> [--type web|spa|native|service] [--redirect-uri <uri>]… [--post-logout-redirect-uri <uri>]… [--cors-origin <origin>]… [--description <text>] [--logo-uri|--client-uri|--policy-uri|--tos-uri <https URL>] [--owner <e-mail>] [--auth-method private_key_jwt --jwks-file <public-jwks.json>] [--require-par] [--require-signed-request] [--dpop-bound] [--id-token-alg RS256|ES256] [--first-party] --scope "<scopes>"\n  Registers an app. The client secret (web and service apps) is shown once; a private_key_jwt app gets none.\n  --first-party: an app you run yourself; it gets the user\'s account id as `sub` instead of a pairwise subject of its own.',
    options: {
      name: { type: 'string' },
      type: { type: 'string' },
      description: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'cors-origin': { type: 'string', multiple: true },
      'logo-uri': { type: 'string' },
      'client-uri': { type: 'string' },
      'policy-uri': { type: 'string' },
      'tos-uri': { type: 'string' },
      owner: { type: 'string' },
      scope: { type: 'string' },
      'auth-method': { type: 'string' },
      'jwks-file': { type: 'string' },
      'require-par': { type: 'boolean' },
      'require-signed-request': { type: 'boolean' },
      'dpop-bound': { type: 'boolean' },
      'id-token-alg': { type: 'string' },
      'first-party': { type: 'boolean' },
    },
    operation: 'client.create',
    input: (v) => {
      if (!v.name) throw new InputError('--name is required');
      if (v.scope === undefined) throw new InputError('--scope is required, e.g. --scope "openid offline_access notes:read notes:write"');
      return {
        name: v.name,
        type: v.type ?? 'web',
        description: v.description,
        redirectUris: v['redirect-uri'] ?? [],
        postLogoutRedirectUris: v['post-logout-redirect-uri'] ?? [],
        corsOrigins: v['cors-origin'] ?? [],
        logoUri: v['logo-uri'],
        clientUri: v['client-uri'],
        policyUri: v['policy-uri'],
        tosUri: v['tos-uri'],
        owner: v.owner,
        scope: v.scope,
        security: clientSecurityFlags(v),
        ...(v['first-party'] ? { firstParty: true } : {}),
      };
    },
  },
  'client list': { usage: 'latchkey client list\n  Lists registered apps with their owner and status (active, suspended, pending_approval).', options: {}, operation: 'client.list', input: () => ({}) },
  ...clientIdCommand('show', 'Shows an app: metadata, API scopes, owner, status (never its secret).'),
  ...clientIdCommand('suspend', 'Suspends an app: no tokens, refresh tokens stop working, opaque tokens introspect inactive.'),
  ...clientIdCommand('unsuspend', 'Lifts a suspension.'),
  ...clientIdCommand('approve', 'Approves an app waiting for approval (CLIENT_APPROVAL=manual).'),
  ...clientIdCommand('delete', 'Deletes an app and revokes its grants and tokens.'),
  'client set-first-party': {
    usage:
      'latchkey client set-first-party <client-id> [--off]\n  Your own app gets the user\'s account id as `sub` (--off: a pairwise subject of its own again). Every `sub` the app sees changes; not for portal or DCR apps.',
    options: { off: { type: 'boolean' } },
    operation: 'client.set-first-party',
    positional: 'clientId',
    input: (v) => {
      if (!v.clientId) throw new InputError('the client id is required');
      return { clientId: v.clientId, off: Boolean(v.off) };
    },
  },
  'client rotate-secret': {
    usage: 'latchkey client rotate-secret <client-id> [--grace <seconds|90m|24h|7d>]\n  New client secret, shown once; with --grace the previous one keeps working that long.',
    options: { grace: { type: 'string' } },
    operation: 'client.rotate-secret',
    positional: 'clientId',
    input: (v) => {
      if (!v.clientId) throw new InputError('the client id is required');
      return { clientId: v.clientId, grace: v.grace };
    },
  },
  'client approve-machine-access': machineAccessCommand(
    'approve-machine-access',
    'Lets a client_credentials app get machine tokens for the scopes of that API it asks for and the API offers to machines (--machine-scope). Apps registered through the portal or DCR wait for this.',
  ),
  'client revoke-machine-access': machineAccessCommand('revoke-machine-access', 'Takes machine access to that API away again; opaque machine tokens of the app are deleted, JWTs run out.'),
  'registration-token create': {
    usage:
      'latchkey registration-token create [--expires <seconds|90m|24h|7d>] [--max-uses <n>] [--owner <e-mail>]\n  An initial access token for Dynamic Client Registration (POST /reg), shown once. Apps registered with it belong to --owner.',
    options: { expires: { type: 'string' }, 'max-uses': { type: 'string' }, owner: { type: 'string' } },
    operation: 'registration-token.create',
    input: (v) => {
      const maxUses = v['max-uses'] === undefined ? undefined : Number(v['max-uses']);
      if (maxUses !== undefined && !(Number.isInteger(maxUses) && maxUses > 0)) throw new InputError('--max-uses must be a positive whole number');
      return { expires: v.expires, maxUses, owner: v.owner };
    },
  },
  audit: {
    usage:
      'latchkey audit [--type <type|prefix.*>] [--user <id>] [--client <id>] [--ip <address>] [--since <2h|7d|ISO date>] [--until <2h|7d|ISO date>] [--limit <n>] [--cursor <next>]\n  Security events, newest first, from --since up to (not including) --until; pass the printed "next" as --cursor for the following page.',
    options: {
      type: { type: 'string' }, user: { type: 'string' }, client: { type: 'string' }, ip: { type: 'string' },
      since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' },
    },
    operation: 'audit.query',
    input: (v) => {
      const limit = v.limit === undefined ? undefined : Number(v.limit);
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 500)) throw new InputError('--limit must be 1 to 500');
      return { type: v.type, user: v.user, client: v.client, ip: v.ip, since: v.since, until: v.until, limit, cursor: v.cursor };
    },
  },
  'suspensions list': {
    usage: 'latchkey suspensions list [--all]\n  Active temporary suspensions (--all: also ended and lifted ones).',
    options: { all: { type: 'boolean' } },
    operation: 'suspensions.list',
    input: (v) => ({ all: Boolean(v.all) }),
  },
  'suspensions lift': {
    usage: 'latchkey suspensions lift (--id <id> | --kind account|account-ip|client|ip --subject <e-mail|client id|ip>)\n  Ends suspensions now.',
    options: { id: { type: 'string' }, kind: { type: 'string' }, subject: { type: 'string' } },
    operation: 'suspensions.lift',
    input: (v) => ({ id: v.id, kind: v.kind, subject: v.subject }),
  },
  suspend: {
    usage: 'latchkey suspend --kind account|client|ip --subject <e-mail|client id|ip> --duration <90|15m|2h|1d> [--reason <text>]\n  Suspends a user, client or address for a while.',
    options: { kind: { type: 'string' }, subject: { type: 'string' }, duration: { type: 'string' }, reason: { type: 'string' } },
    operation: 'suspensions.add',
    input: (v) => {
      if (!v.kind || !v.subject || !v.duration) throw new InputError('--kind, --subject and --duration are required');
      return { kind: v.kind, subject: v.subject, duration: v.duration, reason: v.reason };
    },
  },
  'perform client-credentials': {
    usage:
      'latchkey perform client-credentials --client-id <id> [--scope <scopes>] [--resource <API audience>]…\n  Gets a machine token from ISSUER (client secret from --client-secret-stdin or LATCHKEY_CLIENT_SECRET) and prints the token response and its verified claims.',
    options: { 'client-id': { type: 'string' }, 'client-secret-stdin': { type: 'boolean' }, scope: { type: 'string' }, resource: { type: 'string', multiple: true } },
    run: async (v, config, json) => {
      const { performClientCredentials } = await import('./perform.ts');
      await printPerformed(await performClientCredentials(performCommon(v, config)), json);
    },
  },
  'perform authorization-code': {
    usage:
      'latchkey perform authorization-code --client-id <id> [--port <8080>] [--scope <scopes>] [--resource <API audience>]… [--prompt consent] [--timeout <seconds, default 600>]\n  Listens on http://127.0.0.1:<port>/callback, prints the URL to open, does PKCE, state and the code exchange, and prints the token response and its verified claims. A confidential app\'s secret comes from --client-secret-stdin or LATCHKEY_CLIENT_SECRET.',
    options: {
      'client-id': { type: 'string' },
      'client-secret-stdin': { type: 'boolean' },
      scope: { type: 'string' },
      resource: { type: 'string', multiple: true },
      port: { type: 'string' },
      prompt: { type: 'string' },
      timeout: { type: 'string' },
    },
    run: async (v, config, json) => {
      const port = Number(v.port ?? 8080);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError('--port must be a port number');
      const timeoutSeconds = Number(v.timeout ?? 600);
      if (!(timeoutSeconds > 0)) throw new InputError('--timeout must be a positive number of seconds');
      const { performAuthorizationCode } = await import('./perform.ts');
      const tell = (line: string) => process.stderr.write(`${line}\n`);
      await printPerformed(await performAuthorizationCode({ ...performCommon(v, config), port, prompt: v.prompt as string | undefined, timeoutSeconds, tell }), json);
    },
  },
  'keys rotate': {
    usage:
      'latchkey keys rotate [--now]\n  Adds new signing keys, published at once and signing after KEY_PUBLISH_DELAY_SECONDS (--now: at once, for a compromised key); previous ones stay published until tokens they signed have expired.',
    options: { now: { type: 'boolean' } },
    operation: 'keys.rotate',
    input: (v) => ({ now: Boolean(v.now) }),
  },
  ...(adminCommands as Record<string, Command>),
};

/** perform's common flags; the secret never comes from a flag value (it would show in `ps` and shell history). */
function performCommon(v: Record<string, unknown>, config: Config) {
  if (!v['client-id']) throw new InputError('--client-id is required');
  const clientSecret = v['client-secret-stdin'] ? readStdin() : process.env.LATCHKEY_CLIENT_SECRET || undefined;
  if (v['client-secret-stdin'] && !clientSecret) throw new InputError('--client-secret-stdin: nothing on standard input');
  return { issuer: config.issuer, clientId: String(v['client-id']), clientSecret, scope: v.scope as string | undefined, resources: (v.resource as string[] | undefined) ?? [] };
}

async function printPerformed(result: import('./perform.ts').PerformResult, json: boolean) {
  const { formatPerformResult } = await import('./perform.ts');
  console.log(json ? JSON.stringify(result, null, 2) : formatPerformResult(result));
}

const databaseOptionsOf = (key: string, command: Command): Options => (key === 'serve' || command.run ? {} : databaseCommonOptions);

function overview(): string {
  return ['Usage: latchkey <command> [options]   (each command takes --help and --json)', '', ...Object.values(commands).map((c) => `  ${c.usage.split('\n')[0]}`)].join('\n');
}

/** `client create`'s signed-request flags (docs/operating-securely.md); the JWKS file holds public keys only. */
function clientSecurityFlags(v: Record<string, any>) {
  const method = v['auth-method'] as string | undefined;
  if (method !== undefined && method !== 'private_key_jwt') throw new InputError('--auth-method takes private_key_jwt (the default is a client secret)');
  if ((method === undefined) !== (v['jwks-file'] === undefined)) throw new InputError('--auth-method private_key_jwt and --jwks-file <path> go together');
  let jwks: { keys: Array<Record<string, unknown>> } | undefined;
  if (v['jwks-file'] !== undefined) {
    let parsed: any;
    try {
      parsed = JSON.parse(readFileSync(v['jwks-file'], 'utf8'));
    } catch (error) {
      throw new InputError(`--jwks-file: ${(error as Error).message}`);
    }
    jwks = Array.isArray(parsed?.keys) ? parsed : { keys: [parsed] };
  }
  const security = {
    ...(jwks ? { jwks } : {}),
    ...(v['require-par'] ? { requirePar: true } : {}),
    ...(v['require-signed-request'] ? { requireSignedRequestObject: true } : {}),
    ...(v['dpop-bound'] ? { dpopBoundAccessTokens: true } : {}),
    ...(v['id-token-alg'] !== undefined ? { idTokenSigningAlg: idTokenAlg(v['id-token-alg']) } : {}),
  };
  return Object.keys(security).length ? security : undefined;
}

function idTokenAlg(value: string): 'RS256' | 'ES256' {
  if (value !== 'RS256' && value !== 'ES256') throw new InputError('--id-token-alg takes RS256 (the default, what every relying party accepts) or ES256');
  return value;
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
  // A server running on this database does it (admin/control-socket.ts); otherwise this process opens the database.
  const answer = await callControlSocket(config, name, input);
  if (answer) {
    if (answer.error !== undefined) throw errorOfKind(answer.kind, answer.error, answer.field);
    return answer.result;
  }
  const [{ createServices }, { createLogger }, { buildProvider }, { clientMetadataValidator }, { createOperations }, { recordAuditEvents }] = await Promise.all([
    import('../context.ts'),
    import('../logger.ts'),
    import('../oidc/build.ts'),
    import('../oidc/client-validation.ts'),
    import('../admin/operation-table.ts'),
    import('../security/audit-log.ts'),
  ]);
  const services = await createServices(config, { logger: createLogger({ logLevel: 'warn' }) });
  const audit = recordAuditEvents(services);
  try {
    const needsProvider = ['client.create', 'client.update', 'api.create', 'registration-token.create'].includes(name);
    const provider = needsProvider ? (await buildProvider(services)).provider : undefined;
    const run = createOperations(services, clientMetadataValidator(() => provider!), () => provider);
    return await run(name, input);
  } finally {
    await audit.flush();
    await services.db.close();
  }
}

/** The command name argv's words give ("client create", "audit"; the first word when none matches), and its command if there is one. */
function commandOf(argv: string[]): { key: string | undefined; command: Command | undefined } {
  const words = argv.filter((a) => !a.startsWith('-'));
  const key = commands[`${words[0]} ${words[1]}`] ? `${words[0]} ${words[1]}` : words[0];
  return { key, command: key ? commands[key] : undefined };
}

/** The command's flags and positional argument; throws on an unknown flag or an extra argument. */
function valuesOf(key: string, command: Command, argv: string[]): Record<string, unknown> {
  const parsed = parseArgs({ args: argv.slice(key.split(' ').length), options: { ...common, ...databaseOptionsOf(key, command), ...command.options }, strict: true, allowPositionals: Boolean(command.positional) });
  const values: Record<string, unknown> = parsed.values;
  if (command.positional) {
    if (parsed.positionals.length > 1) throw new Error(`unexpected argument "${parsed.positionals[1]}"`);
    values[command.positional] = parsed.positionals[0];
  }
  return values;
}

/**
 * The operation a command line asks a server for, and its input, worked out exactly as
 * `latchkey` does before it calls the control socket; undefined for a command that does its work
 * in its own process (serve, migrate, perform …) or asks for --help or --init. Throws InputError on
 * bad arguments. The tests use it to set up through a server's control socket without starting
 * a process per command (test/support/latchkey.ts); `stdinText` stands in for standard input.
 */
export async function operationOf(argv: string[], stdinText: () => string): Promise<{ operation: OperationName; input: unknown } | undefined> {
  const { key, command } = commandOf(argv);
  if (!key || !command?.operation || !command.input) return undefined;
  let values: Record<string, unknown>;
  try {
    values = valuesOf(key, command, argv);
  } catch (error) {
    throw new InputError((error as Error).message);
  }
  if (values.help || values.init) return undefined;
  return { operation: command.operation, input: await command.input(values, () => withoutFinalLineBreak(stdinText())) };
}

export async function main(argv: string[]): Promise<number> {
  const { key, command } = commandOf(argv);
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
    values = valuesOf(key!, command, argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n\nUsage: ${command.usage}`);
    return 2;
  }
  if (values.help) {
    console.log(`Usage: ${command.usage}\n\nOptions: ${Object.keys({ ...command.options, ...databaseOptionsOf(key!, command), ...common }).map((o) => `--${o}`).join(' ')}`);
    return 0;
  }
  const json = Boolean(values.json);
  try {
    const config = loadConfigFromEnvironment();
    if (key === 'serve') {
      // The database (PGlite: WebAssembly PostgreSQL) opens while the server's modules load.
      const { startOpeningDatabase } = await import('../storage/database.ts');
      startOpeningDatabase(config);
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
    const { describeTarget, assertDatabaseExists } = await import('./database-target.ts');
    // Where this command works, for a person (with --json stderr carries only a JSON error).
    if (command.run) {
      if (!json) console.error(`latchkey: ISSUER=${config.issuer}`);
      await command.run(values, config, json);
      return 0;
    }
    if (!json) console.error(`latchkey: ${describeTarget(config)}`);
    assertDatabaseExists(config, Boolean(values.init));
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
    const input = await command.input!(values, readStdin);
    print(await runOperation(config, command.operation!, input), json);
    return 0;
  } catch (error) {
    // The CLI's translation of the closed error set (errors.ts): the message, and the kind's exit code.
    const busy = (error as Error).name === 'EmbeddedDatabaseBusyError';
    const answer = error instanceof ConfigError || busy ? { kind: 'invalid_input' as const, message: (error as Error).message } : answerFor(error);
    // `serve` and `migrate` never ask a running server (the others do, over the control socket).
    const message = busy
      ? key === 'serve'
        ? `${answer.message}: a Latchkey server already runs on this DATA_DIR; stop it first, or give this one another DATA_DIR`
        : key === 'migrate'
          ? `${answer.message}: a Latchkey server runs on it, and it applied every migration it knows when it started; to apply newer ones, restart it (or stop it and run latchkey migrate)`
          : `${answer.message}, and no server answers on its control socket; stop that process or set DATABASE_URL`
      : answer.kind === 'internal'
        ? `unexpected error: ${(error as Error).message}`
        : answer.message;
    if (json) console.error(JSON.stringify({ error: message, kind: answer.kind }));
    else console.error(`latchkey: ${message}`);
    return ERROR_KINDS[answer.kind].exitCode;
  }
}

