import type { Services } from '../context.ts';
import { listConnectedApps } from './connected-apps.ts';
import { factorSummary } from './factors.ts';
import { listSessions } from './sessions.ts';

/**
 * "Download my data": everything Latchkey keeps about a user, as JSON — profile, sign-in
 * methods, connected apps, signed-in sessions and the user's own audit events. Never a secret:
 * no password hash, no authenticator secret, no passkey public key, no recovery code hash, no
 * token or session cookie value (sessions are named by their public id).
 */
const MAX_AUDIT_EVENTS = 10_000;

export async function exportAccountData(services: Pick<Services, 'db' | 'apis' | 'clients' | 'config'>, userId: string, currentSessionUid?: string) {
  const user = await services.db.prisma.user.findUniqueOrThrow({
    where: { id: userId },
    select: { id: true, email: true, roles: true, createdAt: true, updatedAt: true },
  });
  const [factors, totp, apps, sessions, events] = await Promise.all([
    factorSummary(services, user),
    services.db.prisma.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true, createdAt: true } }),
    listConnectedApps(services, userId),
    listSessions(services, userId, currentSessionUid ? { currentSessionUid } : {}),
    services.db.prisma.auditEvent.findMany({
      where: { userId },
      orderBy: { id: 'desc' },
      take: MAX_AUDIT_EVENTS,
      select: { id: true, at: true, type: true, clientId: true, ip: true, userAgent: true, details: true },
    }),
  ]);
  return {
    exported_at: new Date().toISOString(),
    profile: { id: user.id, email: user.email, roles: user.roles, created_at: user.createdAt, updated_at: user.updatedAt },
    sign_in_methods: {
      password: true,
      authenticator_app: factors.totp ? { added_at: totp?.confirmedAt ?? totp?.createdAt ?? null } : null,
      passkeys: factors.passkeys.map((p) => ({ name: p.name, added_at: p.createdAt, last_used_at: p.lastUsedAt, synced: p.backedUp, device_type: p.deviceType })),
      recovery_codes_left: factors.recoveryCodesRemaining,
    },
    connected_apps: apps.map((app) => ({
      client_id: app.clientId,
      name: app.name,
      identity: app.identity,
      apis: app.apis.map((api) => ({ name: api.name, audience: api.audience, access: api.access, scopes: api.scopes })),
      last_used_at: app.lastUsedAt,
    })),
    sessions: sessions.map((s) => ({ id: s.id, browser: s.browser, user_agent: s.userAgent, ip: s.ip, signed_in_at: s.signedInAt, last_seen_at: s.lastSeenAt, current: s.current })),
    audit_events: events.map((e) => ({ id: String(e.id), at: e.at, type: e.type, client_id: e.clientId, ip: e.ip, user_agent: e.userAgent, details: e.details })),
    audit_events_truncated: events.length === MAX_AUDIT_EVENTS,
  };
}
