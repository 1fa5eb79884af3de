import { EventEmitter } from 'node:events';

/**
 * Security-relevant events, emitted where they happen (sign-in, factor changes, consent,
 * client changes, suspensions, key rotation…) and consumed by the audit log and metrics.
 * Producers never depend on who listens. Never put a secret, token or password in an event:
 * identifiers and metadata only.
 */
export interface SecurityEvent {
  /** dotted name, e.g. `signin.failure`, `factor.totp.enrolled`, `consent.granted`, `client.suspended` */
  type: string;
  /** who did it: a user id, `client:<id>`, `cli`, `system` */
  actor?: string;
  userId?: string;
  clientId?: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
  /** identifiers and metadata only */
  details?: Record<string, unknown>;
}

export class SecurityEvents {
  #emitter = new EventEmitter();

  emit(event: SecurityEvent): void {
    this.#emitter.emit('event', { ...event, at: new Date() });
  }

  on(listener: (event: SecurityEvent & { at: Date }) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}

/** The request-derived fields of an event, from a Koa context. */
export function requestFields(ctx: { ip: string; get(name: string): string; state: Record<string, unknown> }) {
  return { ip: ctx.ip, userAgent: ctx.get('user-agent').slice(0, 300) || undefined, requestId: ctx.state.requestId as string | undefined };
}
