import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting Latchkey reads, parsed once from the environment (and an optional .env).
 * Defaults serve a local trial; `assertSafeForProduction` lists what production refuses.
 * Keep .env.example in step with this file.
 */
const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** A rate budget "points/seconds", e.g. 30/60 = 30 per minute. */
export interface Budget { points: number; seconds: number }
const budget = (fallback: string) =>
  z
    .string()
    .regex(/^\d{1,7}\/\d{1,7}$/, 'must be points/seconds, e.g. 30/60')
    .default(fallback)
    .transform((v): Budget => {
      const [points, secs] = v.split('/').map(Number) as [number, number];
      return { points: Math.max(1, points), seconds: Math.max(1, secs) };
    });

const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  // A development aid (src/storage/sql-trace.ts): each distinct SQL statement text, never its values.
  SQL_TRACE_DIR: z.string().min(1).optional(),
  ENCRYPTION_KEY: z.string().optional(),
  // A new signing key is published this long before it signs (`latchkey keys rotate`): at least
  // as long as verifiers cache the JWKS. The kit (src/resource-server/issuer-key-set.ts) refetches
  // on an unknown kid after 30 s and at the latest after 10 minutes; other libraries cache up to
  // their own max-age, commonly 10 minutes.
  KEY_PUBLISH_DELAY_SECONDS: z.coerce.number().int().min(0).max(7 * 24 * 3600).default(600),
  COOKIE_KEYS: z.string().optional(),
  // How many reverse proxies in front of Latchkey append to X-Forwarded-For: the client address
  // is the one the outermost trusted proxy saw, never what the client itself wrote leftmost.
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|yes|no|[0-9])$/, 'must be false, true (one proxy) or the number of trusted proxies (0-9)')
    .default('false')
    .transform((v) => (v === 'true' || v === 'yes' ? 1 : v === 'false' || v === 'no' ? 0 : Number(v))),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  ACCESS_TOKEN_TTL: seconds(600),
  ID_TOKEN_TTL: seconds(3600),
  REFRESH_TOKEN_TTL: seconds(14 * 24 * 3600),
  SESSION_TTL: seconds(14 * 24 * 3600),
  GRANT_TTL: seconds(365 * 24 * 3600),
  INTERACTION_TTL: seconds(3600),
  AUTHORIZATION_CODE_TTL: seconds(60),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(19456).default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(2).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  // More hashes at once than cores only adds latency and 19 MiB of memory each (kept by the allocator).
  ARGON2_MAX_CONCURRENT: z.coerce.number().int().min(1).max(64).default(Math.min(4, availableParallelism())),
  PURGE_INTERVAL_SECONDS: seconds(600),
  CACHE_TTL_SECONDS: seconds(60),
  CLIENT_APPROVAL: z.enum(['automatic', 'manual']).default('automatic'),
  // Two-factor sign-in (docs/two-factor.md): roles that must have a second factor, 'all' or 'none'.
  MFA_REQUIRED: z
    .string()
    .default('admin,developer')
    .transform((v) => v.split(',').map((r) => r.trim().toLowerCase()).filter(Boolean))
    .refine((list) => list.every((r) => /^[a-z][a-z0-9_-]*$/.test(r)), 'must be all, none or a comma-separated list of roles'),
  // Security operations (issue 6; docs/operating-securely.md). Budgets are "points/seconds".
  METRICS_TOKEN: z.string().min(16).optional(),
  ADMIN_API_TOKEN: z.string().min(32).optional(),
  AUDIT_RETENTION_DAYS: seconds(365),
  RATE_LIMIT_SIGNIN_IP: budget('30/60'),
  RATE_LIMIT_SIGNIN_ACCOUNT: budget('10/60'),
  RATE_LIMIT_TOKEN_IP: budget('600/60'),
  RATE_LIMIT_TOKEN_CLIENT: budget('1200/60'),
  RATE_LIMIT_REGISTRATION_IP: budget('30/3600'),
  LOCKOUT_ACCOUNT_IP_FAILURES: budget('5/900'),
  LOCKOUT_ACCOUNT_FAILURES: budget('100/86400'),
  LOCKOUT_CLIENT_FAILURES: budget('200/300'),
  LOCKOUT_IP_FAILURES: budget('100/300'),
  LOCKOUT_BASE_SECONDS: seconds(60),
  LOCKOUT_MAX_SECONDS: seconds(3600),
  // E-mail (src/mail/; docs/configuration.md). Unset SMTP_URL: messages go to DATA_DIR/outbox/.
  SMTP_URL: z
    .url({ protocol: /^smtps?$/, error: 'SMTP_URL must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587' })
    .optional(),
  MAIL_FROM: z.string().min(3).max(254).optional(),
  // Self-service (docs/end-users.md): who may create an account, and whether "Forgot password?" is offered.
  SIGNUP: z.enum(['closed', 'invite', 'open']).default('closed'),
  PASSWORD_RESET: z.enum(['on', 'off']).default('on'),
  // E-mails asked for from one address (sign-up, password reset) and to one e-mail address.
  RATE_LIMIT_MAIL_IP: budget('20/3600'),
  RATE_LIMIT_MAIL_ADDRESS: budget('5/3600'),
});

export type Environment = z.infer<typeof environmentSchema>;

export interface Config {
  env: Environment['NODE_ENV'];
  production: boolean;
  port: number;
  host: string;
  issuer: string;
  dataDir: string;
  databaseUrl?: string;
  databasePoolSize: number;
  /** Where each process writes the distinct SQL statements it sends (texts only); undefined: nowhere. */
  sqlTraceDir?: string;
  /** 32 raw bytes, or undefined when a development key file should be used. */
  encryptionKey?: Buffer;
  /** Seconds between publishing a rotated-in signing key and signing with it. */
  keyPublishDelaySeconds: number;
  /** Cookie signing keys, newest first; undefined means "generate and store one" (development only). */
  cookieKeys?: string[];
  /** Number of trusted reverse proxies (0: none; X-Forwarded-* ignored). */
  trustProxyHops: number;
  logLevel: Environment['LOG_LEVEL'];
  /** auto: readable lines on a terminal, JSON otherwise (logger.ts) */
  logFormat: Environment['LOG_FORMAT'];
  ttl: {
    accessToken: number;
    idToken: number;
    refreshToken: number;
    session: number;
    grant: number;
    interaction: number;
    authorizationCode: number;
  };
  argon2: { memoryCost: number; timeCost: number; parallelism: number; maxConcurrent: number };
  purgeIntervalSeconds: number;
  cacheTtlSeconds: number;
  /** 'manual': apps registered in the developer portal or through DCR wait for an operator's approval. */
  clientApproval: 'automatic' | 'manual';
  /** Who must have a second factor: everyone, or users holding one of these roles (empty = nobody). */
  mfaRequired: { everyone: boolean; roles: string[] };
  mail: {
    /** smtp:// (STARTTLS when the server offers it) or smtps:// (TLS from the start); undefined: the outbox in DATA_DIR */
    smtpUrl?: string;
    /** the From: of every message */
    from: string;
  };
  /** 'open': anyone may create an account at /signup; 'invite': only through `latchkey user invite`; 'closed': only `latchkey user create`. */
  signup: 'closed' | 'invite' | 'open';
  /** "Forgot password?" on the sign-in page and the reset pages behind it. */
  passwordReset: boolean;
  security: {
    metricsToken?: string;
    adminApiToken?: string;
    auditRetentionDays: number;
    rateLimits: { signinIp: Budget; signinAccount: Budget; tokenIp: Budget; tokenClient: Budget; registrationIp: Budget; mailIp: Budget; mailAddress: Budget };
    lockout: { accountIpFailures: Budget; accountFailures: Budget; clientFailures: Budget; ipFailures: Budget; baseSeconds: number; maxSeconds: number };
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function parseEncryptionKey(raw: string): Buffer {
  const trimmed = raw.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new ConfigError('ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)');
  }
  return key;
}

function parseCookieKeys(raw: string): string[] {
  const keys = raw.split(',').map((k) => k.trim()).filter(Boolean);
  if (keys.length === 0 || keys.some((k) => k.length < 32)) {
    throw new ConfigError('COOKIE_KEYS must be a comma-separated list of keys of at least 32 characters each');
  }
  return keys;
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`invalid setting ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  const url = new URL(issuer);
  if (url.search || url.hash) throw new ConfigError('ISSUER must not have a query or a fragment');

  const config: Config = {
    env: e.NODE_ENV,
    production: e.NODE_ENV === 'production',
    port: e.PORT,
    host: e.HOST,
    issuer,
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    sqlTraceDir: e.SQL_TRACE_DIR ? path.resolve(e.SQL_TRACE_DIR) : undefined,
    encryptionKey: e.ENCRYPTION_KEY ? parseEncryptionKey(e.ENCRYPTION_KEY) : undefined,
    keyPublishDelaySeconds: e.KEY_PUBLISH_DELAY_SECONDS,
    cookieKeys: e.COOKIE_KEYS ? parseCookieKeys(e.COOKIE_KEYS) : undefined,
    trustProxyHops: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    ttl: {
      accessToken: e.ACCESS_TOKEN_TTL,
      idToken: e.ID_TOKEN_TTL,
      refreshToken: e.REFRESH_TOKEN_TTL,
      session: e.SESSION_TTL,
      grant: e.GRANT_TTL,
      interaction: e.INTERACTION_TTL,
      authorizationCode: e.AUTHORIZATION_CODE_TTL,
    },
    argon2: {
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      maxConcurrent: e.ARGON2_MAX_CONCURRENT,
    },
    purgeIntervalSeconds: e.PURGE_INTERVAL_SECONDS,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    mfaRequired: { everyone: e.MFA_REQUIRED.includes('all'), roles: e.MFA_REQUIRED.filter((r) => r !== 'all' && r !== 'none') },
    clientApproval: e.CLIENT_APPROVAL,
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? `Latchkey <no-reply@${url.hostname}>` },
    signup: e.SIGNUP,
    passwordReset: e.PASSWORD_RESET === 'on',
    security: {
      metricsToken: e.METRICS_TOKEN,
      adminApiToken: e.ADMIN_API_TOKEN,
      auditRetentionDays: e.AUDIT_RETENTION_DAYS,
      rateLimits: {
        signinIp: e.RATE_LIMIT_SIGNIN_IP,
        signinAccount: e.RATE_LIMIT_SIGNIN_ACCOUNT,
        tokenIp: e.RATE_LIMIT_TOKEN_IP,
        tokenClient: e.RATE_LIMIT_TOKEN_CLIENT,
        registrationIp: e.RATE_LIMIT_REGISTRATION_IP,
        mailIp: e.RATE_LIMIT_MAIL_IP,
        mailAddress: e.RATE_LIMIT_MAIL_ADDRESS,
      },
      lockout: {
        accountIpFailures: e.LOCKOUT_ACCOUNT_IP_FAILURES,
        accountFailures: e.LOCKOUT_ACCOUNT_FAILURES,
        clientFailures: e.LOCKOUT_CLIENT_FAILURES,
        ipFailures: e.LOCKOUT_IP_FAILURES,
        baseSeconds: e.LOCKOUT_BASE_SECONDS,
        maxSeconds: e.LOCKOUT_MAX_SECONDS,
      },
    },
  };
  if (config.production) assertSafeForProduction(config);
  return config;
}

/** The kit's JWKS refetch cooldown: a shorter publication delay fails tokens at APIs that fetched the JWKS just before a rotation. */
const MIN_PRODUCTION_KEY_PUBLISH_DELAY = 30;

/** Production refuses to start on settings that would be unsafe; each reason fits on one line. */
export function assertSafeForProduction(config: Config): void {
  if (new URL(config.issuer).protocol !== 'https:') {
    throw new ConfigError(`refusing to start in production: ISSUER must be https (got ${config.issuer})`);
  }
  if (!config.cookieKeys) {
    throw new ConfigError('refusing to start in production: COOKIE_KEYS is not set (comma-separated, 32+ characters each)');
  }
  if (!config.encryptionKey) {
    throw new ConfigError('refusing to start in production: ENCRYPTION_KEY is not set (32 bytes, base64 or hex)');
  }
  if (!config.mail.smtpUrl && (config.signup !== 'closed' || config.passwordReset)) {
    const needs = [config.signup !== 'closed' ? `SIGNUP=${config.signup}` : '', config.passwordReset ? 'PASSWORD_RESET=on' : ''].filter(Boolean).join(' and ');
    throw new ConfigError(`refusing to start in production: SMTP_URL is not set, and ${needs} sends e-mail (set SMTP_URL, or SIGNUP=closed and PASSWORD_RESET=off)`);
  }
  if (config.keyPublishDelaySeconds < MIN_PRODUCTION_KEY_PUBLISH_DELAY) {
    throw new ConfigError(
      `refusing to start in production: KEY_PUBLISH_DELAY_SECONDS must be at least ${MIN_PRODUCTION_KEY_PUBLISH_DELAY} (verifiers refetch a JWKS at most that often)`,
    );
  }
}
