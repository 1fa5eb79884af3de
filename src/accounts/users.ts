import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { passwordProblem } from './password-policy.ts';
import { storableText } from '../storage/sql.ts';
import { insertUser, setPasswordHash } from './user-queries.ts';

export const ROLES = ['admin', 'developer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: string;
  email: string;
  roles: string[];
  disabled: boolean;
}

export const emailSchema = z.email().max(254);

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function createUser(
  services: Pick<Services, 'db' | 'passwords'>,
  input: { email: string; password: string; roles?: string[] },
): Promise<{ id: string; email: string }> {
  const email = normalizeEmail(input.email);
  if (!emailSchema.safeParse(email).success) throw new InputError('email is not a valid e-mail address');
  const problem = passwordProblem(input.password, { email });
  if (problem) throw new InputError(problem);
  const roles = [...new Set(input.roles ?? [])];
  for (const role of roles) if (!ROLES.includes(role as Role)) throw new InputError(`unknown role "${role}" (use ${ROLES.join(' or ')})`);
  const existing = await services.db.prisma.user.findUnique({ where: { email }, select: { id: true } });
  if (existing) throw new InputError('a user with this e-mail already exists');
  const id = randomUUID();
  const passwordHash = await services.passwords.hash(input.password);
  await insertUser(services.db.prisma, { id, email, passwordHash, roles });
  return { id, email };
}

export async function findUserById(services: Pick<Services, 'db'>, id: string): Promise<User | undefined> {
  const row = await services.db.prisma.user.findUnique({ where: { id } });
  return row ? { id: row.id, email: row.email, roles: row.roles, disabled: row.disabledAt !== null } : undefined;
}

/** A user whose password was just verified, with what the second-factor step needs to know. */
export interface SignedInUser extends User {
  /** an active authenticator app or at least one security key / passkey */
  hasSecondFactor: boolean;
}

/**
 * Password sign-in. The same answer (undefined) for an unknown e-mail, a wrong password, a
 * disabled account or one whose address is not confirmed yet, and an argon2 verification in
 * every case so timing tells nothing either.
 *
 * The hot path of every sign-in: one raw query reads the user and whether a second factor is
 * enrolled (what the sign-in step decides on next), instead of four Prisma queries.
 */
export async function verifyPasswordSignIn(
  services: Pick<Services, 'db' | 'passwords'>,
  emailInput: string,
  password: string,
): Promise<SignedInUser | undefined> {
  const email = normalizeEmail(emailInput);
  const row = email.length <= 254 && storableText(email) ? await findSignInRow(services, email) : undefined;
  const ok = await services.passwords.verify(row?.password_hash, password);
  // An account made by sign-up or invitation signs in once its owner has proven the address (signup.ts, invitations.ts).
  if (!ok || !row || row.disabled_at || !row.email_verified) return undefined;
  if (services.passwords.needsRehash(row.password_hash)) {
    // Parameters were raised since this hash was made: upgrade it now that we know the password.
    await setPasswordHash(services.db.prisma, row.id, await services.passwords.hash(password));
  }
  return { id: row.id, email: row.email, roles: parseRoles(row.roles), disabled: false, hasSecondFactor: Boolean(row.totp || row.passkey) };
}

interface SignInRow {
  id: string;
  email: string;
  password_hash: string;
  roles: string[] | string | null;
  disabled_at: Date | string | null;
  email_verified: boolean;
  totp: boolean;
  passkey: boolean;
}

async function findSignInRow(services: Pick<Services, 'db'>, email: string): Promise<SignInRow | undefined> {
  const { rows } = await services.db.sql.query<SignInRow>(
    `SELECT u.id, u.email, u.password_hash, u.roles, u.disabled_at, u.email_verified,
       EXISTS (SELECT 1 FROM totp_factor t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp,
       EXISTS (SELECT 1 FROM webauthn_credential w WHERE w.user_id = u.id) AS passkey
     FROM "user" u WHERE u.email = $1`,
    [email],
    { prepare: true },
  );
  return rows[0];
}

/** text[] arrives parsed from both drivers; a '{a,b}' literal is handled in case a driver leaves it as text. */
function parseRoles(value: SignInRow['roles']): string[] {
  if (Array.isArray(value)) return value;
  if (!value || value === '{}') return [];
  return value.replace(/^\{|\}$/g, '').split(',').map((r) => r.replace(/^"|"$/g, ''));
}
