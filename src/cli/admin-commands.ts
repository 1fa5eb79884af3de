import type { ParseArgsConfig } from 'node:util';
import { InputError } from '../errors.ts';

/**
 * The operator commands over the admin libraries (src/admin/admin-cli-operations.ts), merged
 * into main.ts's command table. Kept free of heavy imports: `--help` must start fast.
 */
interface Command {
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  operation: string;
  positional?: string;
  input: (values: Record<string, unknown>) => unknown;
}

const userCommand = (verb: string, summary: string): Command => ({
  usage: `latchkey user ${verb} <e-mail|user id>\n  ${summary}`,
  options: {},
  operation: `user.${verb}`,
  positional: 'user',
  input: (v) => {
    if (!v.user) throw new InputError('the user (e-mail or id) is required');
    return { user: v.user };
  },
});

const list = (value: unknown) => (value === undefined ? undefined : (value as string[]));

export const adminCommands: Record<string, Command> = {
  'user list': {
    usage: 'latchkey user list [--query <e-mail prefix>] [--limit <1-200>] [--cursor <next>]\n  Users whose e-mail starts with --query, by e-mail; pass the printed "next" as --cursor for the following page.',
    options: { query: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
    operation: 'user.list',
    input: (v) => {
      const limit = v.limit === undefined ? undefined : Number(v.limit);
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 200)) throw new InputError('--limit must be 1 to 200');
      return { query: v.query, limit, cursor: v.cursor };
    },
  },
  'user show': userCommand('show', 'Shows a user: roles, second factors (never secrets), sessions, connected apps, recent audit events.'),
  'user enable': userCommand('enable', 'Lets a disabled user sign in again; their apps work again.'),
  'user reset-factors': userCommand('reset-factors', 'Removes the authenticator app, passkeys and recovery codes (a lost device); their sessions end.'),
  'user sign-out': userCommand('sign-out', 'Ends every browser session of the user.'),
  'user delete': userCommand('delete', 'Deletes the user, their sessions, grants and tokens. The last enabled admin cannot be deleted.'),
  'api show': {
    usage: 'latchkey api show <audience|id>\n  Shows an API: scopes, the apps allowed them, live grants, its introspection client.',
    options: {},
    operation: 'api.show',
    positional: 'api',
    input: (v) => {
      if (!v.api) throw new InputError('the API (audience or id) is required');
      return { api: v.api };
    },
  },
  'api delete': {
    usage: 'latchkey api delete <audience|id> [--force]\n  Deletes an API with its scopes and introspection client. Refused while users\' grants include it, unless --force.',
    options: { force: { type: 'boolean' } },
    operation: 'api.delete',
    positional: 'api',
    input: (v) => {
      if (!v.api) throw new InputError('the API (audience or id) is required');
      return { api: v.api, force: Boolean(v.force) };
    },
  },
  'client update': {
    usage:
      'latchkey client update <client-id> [--name <name>] [--description <text>] [--redirect-uri <uri>]… [--post-logout-redirect-uri <uri>]… [--cors-origin <origin>]… [--scope "<scopes>"]\n  Edits an app: only what is given changes (a repeated flag gives the complete new list; --scope the complete scope string), through the same client rules as creation.',
    options: {
      name: { type: 'string' },
      description: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'cors-origin': { type: 'string', multiple: true },
      scope: { type: 'string' },
    },
    operation: 'client.update',
    positional: 'clientId',
    input: (v) => {
      if (!v.clientId) throw new InputError('the client id is required');
      return {
        clientId: v.clientId,
        name: v.name,
        description: v.description,
        redirectUris: list(v['redirect-uri']),
        postLogoutRedirectUris: list(v['post-logout-redirect-uri']),
        corsOrigins: list(v['cors-origin']),
        scope: v.scope,
      };
    },
  },
};
