/**
 * A real SMTP server for tests (the `smtp-server` package) that keeps what it receives, so a test
 * reads the e-mail Latchkey sent and follows its link. With `tls: true` it offers STARTTLS under
 * a certificate made here with openssl for 127.0.0.1; give the Latchkey process that certificate
 * through NODE_EXTRA_CA_CERTS (`mailbox.caFile`) so it can verify it, as it must any server's.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  /** the SMTP session was encrypted (STARTTLS) when the message was sent */
  secure: boolean;
  /** the first http(s) link of the text part to a page (not the bare issuer URL the text names) */
  link?: string;
}

export interface Mailbox {
  /** smtp://127.0.0.1:<port> */
  url: string;
  port: number;
  /** the certificate to trust (NODE_EXTRA_CA_CERTS), when started with tls */
  caFile?: string;
  received: ReceivedMail[];
  /** The next message to `to` not yet taken (optionally with a subject matching), waiting for it. */
  next(to: string, options?: { subject?: RegExp; timeoutMs?: number }): Promise<ReceivedMail>;
  /** No message to `to` arrives within `ms`. */
  nothingFor(to: string, ms: number): Promise<void>;
  /** Stops listening (the port is refused), as a mail server that is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startMailbox(options: { tls?: boolean } = {}): Promise<Mailbox> {
  let certDir: string | undefined;
  let tls: { key: Buffer; cert: Buffer } | undefined;
  if (options.tls) {
    certDir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-smtp-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'),
    ], { stdio: 'ignore' });
    tls = { key: readFileSync(path.join(certDir, 'key.pem')), cert: readFileSync(path.join(certDir, 'cert.pem')) };
  }
  const received: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters: Array<() => void> = [];

  const make = () =>
    new SMTPServer({
      authOptional: true,
      ...(tls ? { key: tls.key, cert: tls.cert } : { hideSTARTTLS: true }),
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          let mail: ReturnType<typeof parseMail>;
          try {
            mail = parseMail(Buffer.concat(chunks).toString('utf8'));
          } catch (error) {
            callback(error as Error); // refuse the message instead of never answering
            return;
          }
          received.push({
            ...mail,
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            secure: session.secure,
          });
          for (const wake of waiters.splice(0)) wake();
          callback();
        });
      },
    });

  let server = make();
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();

  const find = (to: string, subject?: RegExp) =>
    received.find((m) => !taken.has(m) && m.to.includes(to.toLowerCase()) && (!subject || subject.test(m.subject)));

  const mailbox: Mailbox = {
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    caFile: certDir ? path.join(certDir, 'cert.pem') : undefined,
    received,
    async next(to, { subject, timeoutMs = 15_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mail = find(to, subject);
        if (mail) {
          taken.add(mail);
          return mail;
        }
        if (Date.now() > deadline) throw new Error(`no e-mail to ${to}${subject ? ` matching ${subject}` : ''} within ${timeoutMs} ms (received: ${received.map((m) => `${m.to} "${m.subject}"`).join(', ') || 'none'})`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    async nothingFor(to, ms) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      const mail = find(to);
      if (mail) throw new Error(`unexpected e-mail to ${to}: "${mail.subject}"`);
    },
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async start() {
      server = make();
      await listen();
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    },
  };
  return mailbox;
}

// ---------------------------------------------------------------------------------------------
// Just enough MIME to read what nodemailer writes: headers, multipart/alternative, quoted-printable
// and base64 parts, encoded-word subjects.

function splitHeaders(raw: string): { headers: Map<string, string>; body: string } {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return { headers, body };
}

function decodeWords(value: string): string {
  return value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _charset, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16))), 'latin1').toString('utf8'),
  );
}

function decodeBody(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? '').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

function parseMail(raw: string): Omit<ReceivedMail, 'from' | 'to' | 'secure'> {
  const { headers, body } = splitHeaders(raw);
  let text = '';
  let html = '';
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1).map((p) => splitHeaders(p.replace(/^\r?\n/, ''))) : [{ headers, body }];
  for (const part of parts) {
    const partType = part.headers.get('content-type') ?? 'text/plain';
    const decoded = decodeBody(part.body, part.headers.get('content-transfer-encoding'));
    if (/^text\/html/i.test(partType)) html = decoded;
    else if (/^text\/plain/i.test(partType)) text = decoded;
  }
  const subject = decodeWords(headers.get('subject') ?? '');
  // Sentence punctuation after a URL is not part of it; a string that still is no URL is skipped
  // (a throw here would run inside the SMTP server's data handler and hang the send).
  const pageOf = (candidate: string) => {
    const url = URL.parse(candidate.replace(/[.,;:!?)]+$/, ''));
    return url && url.pathname !== '/' ? url.href : undefined;
  };
  const link = [...text.matchAll(/https?:\/\/\S+/g)].map((m) => pageOf(m[0])).find(Boolean);
  return { subject, text, html, link };
}
