import { pino, type Logger } from 'pino';
import type { Config } from './config/config.ts';

export type { Logger };

/**
 * Structured logs. Known secret-bearing fields are redacted even if a caller passes them by
 * mistake; the rule remains: never log secrets, tokens or passwords.
 *
 * LOG_FORMAT: `json` — one JSON object per line (pino), for log collectors; `pretty` — one
 * readable line per entry, for a person at a terminal; `auto` (the default) — pretty when
 * standard output is a terminal, JSON otherwise (a pipe, a file, systemd's journal, a container).
 *
 * JSON is written asynchronously: a synchronous write of every request line to stdout cost about
 * 3% of the CPU of a token request, on the event loop. Lines that pile up while a write is in
 * flight go out together, and pino flushes what is pending when the process exits.
 */
export function createLogger(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logFormat'>>): Logger {
  const options = {
    level: config.logLevel,
    base: undefined,
    redact: {
      paths: ['password', 'client_secret', 'secret', 'token', 'access_token', 'refresh_token', 'code', '*.password', '*.client_secret', '*.token'],
      censor: '[redacted]',
    },
  };
  if (logsArePretty(config.logFormat ?? 'auto', Boolean(process.stdout.isTTY))) {
    const colors = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
    return pino(options, listeningFirst((line) => void process.stdout.write(prettyLine(line, colors))));
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

/** The message of the server's "ready" line (server.ts): on a terminal it comes first. */
export const LISTENING_MESSAGE = 'Latchkey is listening';

/**
 * For a person at a terminal the first thing to read is where the server listens and what to do
 * next: info lines logged while starting (e.g. the migrations applied) are held and follow the
 * listening line. A warning or an error is never held (it, and what was held, go out at once),
 * nor is anything when the process exits before listening.
 */
function listeningFirst(write: (line: string) => void) {
  let held: string[] | undefined = [];
  const release = () => {
    for (const line of held ?? []) write(line);
    held = undefined;
  };
  process.once('exit', release);
  return {
    write(line: string) {
      if (!held) return write(line);
      let entry: { level?: number; msg?: string } = {};
      try {
        entry = JSON.parse(line);
      } catch {
        // not pino's: written as it comes
      }
      if (entry.msg === LISTENING_MESSAGE) {
        write(line);
        return release();
      }
      if ((entry.level ?? 40) >= 40) {
        release();
        return write(line);
      }
      held.push(line);
    },
  };
}

export const logsArePretty = (format: 'auto' | 'json' | 'pretty', isTerminal: boolean) => format === 'pretty' || (format === 'auto' && isTerminal);

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '90'],
  20: ['DEBUG', '90'],
  30: ['INFO ', '32'],
  40: ['WARN ', '33'],
  50: ['ERROR', '31'],
  60: ['FATAL', '31'],
};

const value = (v: unknown) => (typeof v === 'string' ? (/[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v) : JSON.stringify(v));

/**
 * One pino JSON line as a person reads it:
 *   12:04:31 INFO  Latchkey is listening on http://127.0.0.1:3000  issuer=http://localhost:3000 database=pglite
 *                  next: npm run -s latchkey -- user create …
 *   12:04:35 INFO  GET /token 200 12ms  ip=127.0.0.1 requestId=…
 * `url` follows the message; `next` (what to do now) and error stacks get lines of their own.
 */
export function prettyLine(line: string, colors = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, url, next, err, method, route, status, ms, ...rest } = entry;
  const [name, color] = LEVELS[level as number] ?? ['LOG  ', '0'];
  const paint = (code: string, text: string) => (colors ? `\x1b[${code}m${text}\x1b[0m` : text);
  const clock = new Date(typeof time === 'number' ? time : Date.now()).toTimeString().slice(0, 8);
  let head = String(msg ?? '');
  if (head === 'request' && method !== undefined) head = `${method} ${route ?? ''} ${status ?? ''}${ms !== undefined ? ` ${ms}ms` : ''}`;
  else Object.assign(rest, Object.fromEntries(Object.entries({ method, route, status, ms }).filter(([, v]) => v !== undefined)));
  if (url !== undefined) head += ` on ${paint('1', String(url))}`;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  const indent = ' '.repeat(15);
  let out = `${paint('90', clock)} ${paint(color, name)} ${head}${fields ? `  ${paint('90', fields)}` : ''}\n`;
  if (next !== undefined) out += `${indent}${paint('1', 'next:')} ${String(next)}\n`;
  if (err && typeof err === 'object') {
    const { stack, message } = err as { stack?: string; message?: string };
    out += `${String(stack ?? message ?? JSON.stringify(err))
      .split('\n')
      .map((l) => indent + l)
      .join('\n')}\n`;
  }
  return out;
}
