import { randomUUID } from 'node:crypto';
import type { Database } from '../storage/database.ts';
import type { SecurityEvents } from './security-events.ts';

/**
 * Temporary suspensions, in the `suspension` table so every instance sees them. Automatic ones
 * escalate: the n-th suspension of the same subject within a day lasts base·2^(n-1), capped.
 * Manual ones last what the admin said. A suspension ends by itself at `until`, or when lifted.
 */
export const SUSPENSION_KINDS = ['account', 'account-ip', 'client', 'client-ip', 'ip'] as const;
export type SuspensionKind = (typeof SUSPENSION_KINDS)[number];

export interface ActiveSuspension {
  id: string;
  kind: SuspensionKind;
  subject: string;
  reason: string;
  level: number;
  createdBy: string;
  createdAt: string;
  until: string;
}

/** Pure: whole seconds until a suspension ends (at least 1), for Retry-After. */
export const secondsLeft = (s: ActiveSuspension, now = Date.now()) => Math.max(1, Math.ceil((Date.parse(s.until) - now) / 1000));

/** Pure: how long the level-th automatic suspension lasts. */
export function escalatedSeconds(level: number, baseSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, baseSeconds * 2 ** Math.min(Math.max(level - 1, 0), 30));
}

export const accountIpSubject = (email: string, ip: string) => `${normalizeEmail(email)}|${ip}`;
/** Automatic client lock-outs name the client and the address the failures came from: a stranger cannot lock out the real client. */
export const clientIpSubject = (clientId: string, ip: string) => `${clientId}|${ip}`;
export const normalizeEmail = (email: string) => email.trim().toLowerCase().slice(0, 254);

/**
 * Every request to the token endpoint and every sign-in step asks "is this suspended?", so
 * the active suspensions (a handful of rows) are held in memory and re-read at most every
 * SNAPSHOT_MS, and at once when any instance announces a change.
 */
const SNAPSHOT_MS = 1000;

export class Suspensions {
  #snapshot?: { at: number; rows: ActiveSuspension[] };
  #loading?: Promise<ActiveSuspension[]>;
  private readonly prisma: Database['prisma'];
  private db: Database;
  private events: SecurityEvents;
  private escalation: { baseSeconds: number; maxSeconds: number };

  constructor(db: Database, events: SecurityEvents, escalation: { baseSeconds: number; maxSeconds: number }) {
    this.db = db;
    this.events = events;
    this.escalation = escalation;
    this.prisma = db.prisma;
    db.onChange((topic) => {
      if (topic === 'suspensions') this.#snapshot = undefined;
    });
  }

  async #current(): Promise<ActiveSuspension[]> {
    if (this.#snapshot && Date.now() - this.#snapshot.at < SNAPSHOT_MS) return this.#snapshot.rows;
    this.#loading ??= this.prisma.suspension
      .findMany({ where: { until: { gt: new Date() }, liftedAt: null }, orderBy: { until: 'desc' }, take: 10_000 })
      .then((rows) => {
        const active = rows.map(toActive);
        this.#snapshot = { at: Date.now(), rows: active };
        return active;
      })
      .finally(() => (this.#loading = undefined));
    return this.#loading;
  }

  async #changed(): Promise<void> {
    this.#snapshot = undefined;
    await this.db.notifyChange('suspensions');
  }

  /** The active suspension that lasts longest among those given, if any. */
  async active(candidates: Array<{ kind: SuspensionKind; subject: string }>): Promise<ActiveSuspension | undefined> {
    const wanted = candidates.filter((c) => c.subject);
    if (!wanted.length) return undefined;
    const now = Date.now();
    // Rows are ordered by `until` descending, so the first match lasts longest.
    return (await this.#current()).find((s) => Date.parse(s.until) > now && wanted.some((c) => c.kind === s.kind && c.subject === s.subject));
  }

  /** An automatic suspension, escalated by the number of earlier ones for the subject in 24 h. */
  async escalate(kind: SuspensionKind, subject: string, reason: string, fields: { ip?: string; requestId?: string; userId?: string; clientId?: string } = {}): Promise<ActiveSuspension> {
    const existing = await this.active([{ kind, subject }]);
    if (existing) return existing;
    const earlier = await this.prisma.suspension.count({ where: { kind, subject, createdBy: 'system', createdAt: { gt: new Date(Date.now() - 86_400_000) } } });
    const level = earlier + 1;
    const seconds = escalatedSeconds(level, this.escalation.baseSeconds, this.escalation.maxSeconds);
    return this.#create(kind, subject, reason, seconds, 'system', level, fields);
  }

  async suspend(kind: SuspensionKind, subject: string, seconds: number, reason: string, actor: string): Promise<ActiveSuspension> {
    return this.#create(kind, kind === 'account' ? normalizeEmail(subject) : subject, reason, seconds, actor, 0, {});
  }

  async #create(kind: SuspensionKind, subject: string, reason: string, seconds: number, createdBy: string, level: number, fields: { ip?: string; requestId?: string; userId?: string; clientId?: string }) {
    const row = await this.prisma.suspension.create({
      data: { id: randomUUID(), kind, subject, reason: reason.slice(0, 300), level, createdBy, until: new Date(Date.now() + seconds * 1000) },
    });
    await this.#changed();
    this.events.emit({
      type: 'suspension.created',
      actor: createdBy,
      ...fields,
      ...(fields.clientId ? {} : kind === 'client' ? { clientId: subject } : {}),
      details: { id: row.id, kind, subject, reason: row.reason, level, seconds, until: row.until.toISOString() },
    });
    return toActive(row);
  }

  async list(options: { all?: boolean } = {}): Promise<ActiveSuspension[]> {
    const rows = await this.prisma.suspension.findMany({
      where: options.all ? {} : { until: { gt: new Date() }, liftedAt: null },
      orderBy: { createdAt: 'desc' },
      take: 500,
    });
    return rows.map(toActive);
  }

  /** Lifts by id, or every active suspension of (kind, subject). Returns how many. */
  async lift(target: { id?: string; kind?: SuspensionKind; subject?: string }, actor: string): Promise<number> {
    const where = target.id
      ? { id: target.id }
      : { kind: target.kind!, subject: target.kind === 'account' ? normalizeEmail(target.subject!) : target.subject! };
    const rows = await this.prisma.suspension.findMany({ where: { ...where, liftedAt: null, until: { gt: new Date() } } });
    for (const row of rows) {
      await this.prisma.suspension.update({ where: { id: row.id }, data: { liftedAt: new Date(), liftedBy: actor } });
      this.events.emit({ type: 'suspension.lifted', actor, ...(row.kind === 'client' ? { clientId: row.subject } : {}), details: { id: row.id, kind: row.kind, subject: row.subject } });
    }
    if (rows.length) await this.#changed();
    return rows.length;
  }

  /** Lifts every active lock-out of one account: account-wide and per (account, address). Returns how many. */
  async liftAccount(email: string, actor: string): Promise<number> {
    const subject = normalizeEmail(email);
    const rows = await this.prisma.suspension.findMany({
      where: { liftedAt: null, until: { gt: new Date() }, OR: [{ kind: 'account', subject }, { kind: 'account-ip', subject: { startsWith: `${subject}|` } }] },
      select: { id: true },
    });
    let lifted = 0;
    for (const row of rows) lifted += await this.lift({ id: row.id }, actor);
    return lifted;
  }

  /** Ended suspensions older than a week no longer count for escalation. */
  async purge(): Promise<number> {
    const { count } = await this.prisma.suspension.deleteMany({ where: { until: { lt: new Date(Date.now() - 7 * 86_400_000) } } });
    return count;
  }
}

function toActive(row: { id: string; kind: string; subject: string; reason: string; level: number; createdBy: string; createdAt: Date; until: Date }): ActiveSuspension {
  return {
    id: row.id,
    kind: row.kind as SuspensionKind,
    subject: row.subject,
    reason: row.reason,
    level: row.level,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    until: row.until.toISOString(),
  };
}

/** Pure: "15m", "2h", "1d", "90" (seconds) → seconds. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d{1,7})([smhd]?)$/.exec(value.trim());
  if (!m) return undefined;
  const seconds = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return seconds > 0 && seconds <= 366 * 86400 ? seconds : undefined;
}
