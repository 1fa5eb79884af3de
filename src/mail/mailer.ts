import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer, { type SendMailOptions } from 'nodemailer';
import type { Config } from '../config/config.ts';
import { LatchkeyError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { SecurityEvents } from '../security/security-events.ts';
import { renderMail } from './render.ts';
import { describeSendFailure, isTransientSendFailure } from './send-failure.ts';

/**
 * Latchkey's e-mail: one message at a time, from a template in views/mail/, over SMTP
 * (SMTP_URL; STARTTLS whenever the server offers it, certificates checked) or — without
 * SMTP_URL — written to DATA_DIR/outbox/ as an .eml file with its link in the log, so every
 * flow works on a laptop with no mail server (production refuses that when anything sends mail:
 * src/config/config.ts).
 *
 * A send is awaited by the request that asked for it: a transient failure (no connection, a
 * timeout, a 4xx answer) is retried with back-off, and a failure that remains is never silent:
 * the log and the audit trail say why (never with the message's link or token) and the caller
 * gets a MailNotSentError, which the pages show as "we could not send the e-mail, try again".
 */
export interface MailMessage {
  to: string;
  /** a template of views/mail/: `<template>.txt.eta` (first line `Subject: …`) and `<template>.html.eta` */
  template: string;
  /** what the templates show; `link`, when there is one, is the action the e-mail is for (logged in outbox mode only) */
  data: Record<string, unknown>;
}

/** Who the message is about and which request sent it, for the log and the audit trail. */
export interface MailContext {
  userId?: string;
  requestId?: string;
  ip?: string;
  userAgent?: string;
}

/** Where a sent message went: `file` is its .eml in DATA_DIR/outbox/ when SMTP_URL is unset. */
export interface MailReceipt {
  transport: 'smtp' | 'outbox';
  file?: string;
}

export interface Mailer {
  /** Sends the message, or throws MailNotSentError after the retries. */
  send(message: MailMessage, context?: MailContext): Promise<MailReceipt>;
  /** 'smtp' or 'outbox': where messages go. */
  readonly transport: 'smtp' | 'outbox';
}

/** The message could not be sent; shown as is to the person who asked for it. */
export class MailNotSentError extends LatchkeyError {
  constructor() {
    super('unavailable', 'We could not send the e-mail. Please try again in a few minutes.');
  }
}

/** Waits before the 2nd and 3rd attempt: long enough for a restarting server, short enough for a person waiting on the page. */
export const RETRY_DELAYS_MS = [500, 2000];
/** No attempt starts later than this after the first: the page answers within about 20 s, whatever the mail server does. */
export const SEND_DEADLINE_MS = 12_000;

/** An address the message may go to: one mailbox, nothing a header or an address list could be built from. */
const SINGLE_ADDRESS = /^[^\s,;:<>()"\\[\]\u0000-\u001f\u007f]{1,64}@[^\s,;:<>()"\\[\]\u0000-\u001f\u007f]{1,253}$/;

type Deps = { config: Pick<Config, 'mail' | 'dataDir' | 'issuer'>; logger: Logger; events: SecurityEvents };

export function createMailer(deps: Deps, options: { retryDelaysMs?: number[] } = {}): Mailer {
  const { config, logger, events } = deps;
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  const outbox = path.join(config.dataDir, 'outbox');
  const smtpUrl = config.mail.smtpUrl;
  // Made on first use: most processes (the CLI, every token request) never send mail.
  const kind: MailReceipt['transport'] = smtpUrl ? 'smtp' : 'outbox';
  let transporter: ReturnType<typeof nodemailer.createTransport> | undefined;
  const transporterOnce = () =>
    (transporter ??= smtpUrl
      ? nodemailer.createTransport({
          url: smtpUrl,
          // A person waits on the page while this runs: fail fast, and let the retry try again.
          connectionTimeout: 5_000,
          greetingTimeout: 5_000,
          socketTimeout: 8_000,
        })
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }));

  const deliver = async (mail: SendMailOptions, message: MailMessage): Promise<{ messageId?: string; file?: string }> => {
    const info = await transporterOnce().sendMail(mail);
    if (smtpUrl) return { messageId: info.messageId };
    mkdirSync(outbox, { recursive: true, mode: 0o700 });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(outbox, `${stamp}-${message.template}-${randomBytes(4).toString('hex')}.eml`);
    writeFileSync(file, info.message as Buffer, { mode: 0o600, flag: 'wx' });
    return { messageId: info.messageId, file };
  };

  return {
    transport: kind,
    async send(message, context = {}) {
      if (!SINGLE_ADDRESS.test(message.to)) throw new Error('mail recipient is not a single e-mail address');
      const rendered = renderMail(message.template, { issuer: config.issuer, ...message.data });
      const mail: SendMailOptions = { from: config.mail.from, to: message.to, ...rendered };
      const about = { template: message.template, to: message.to };
      const audit = { actor: 'system', userId: context.userId, ip: context.ip, userAgent: context.userAgent, requestId: context.requestId };
      const deadline = Date.now() + SEND_DEADLINE_MS;
      let attempt = 0;
      for (;;) {
        attempt++;
        try {
          const { messageId, file } = await deliver(mail, message);
          if (file) logger.info({ requestId: context.requestId, ...about, file, link: message.data.link }, 'e-mail written to the outbox (SMTP_URL is not set)');
          else logger.info({ requestId: context.requestId, ...about, messageId, attempts: attempt }, 'e-mail sent');
          events.emit({ type: 'mail.sent', ...audit, details: { ...about, transport: kind, attempts: attempt } });
          return { transport: kind, file };
        } catch (error) {
          const reason = describeSendFailure(error);
          const again = attempt <= delays.length && isTransientSendFailure(error) && Date.now() + delays[attempt - 1]! < deadline;
          logger.warn({ requestId: context.requestId, ...about, attempt, reason, retrying: again }, 'e-mail not sent');
          if (!again) {
            events.emit({ type: 'mail.failed', ...audit, details: { ...about, reason, attempts: attempt } });
            throw new MailNotSentError();
          }
          await new Promise((resolve) => setTimeout(resolve, delays[attempt - 1]));
        }
      }
    },
  };
}
