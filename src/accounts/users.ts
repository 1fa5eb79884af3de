import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { passwordProblem } from './passwords.ts';
import { storableText } from '../storage/sql.ts';

export const ROLES = ['admin', 'developer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: string;
  email: string;
  roles: string[];
  disabled: boolean;
}

const emailSchema = z.email().max(254);

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function createUser(
  services: Pick<Services, 'db' | 'passwords'>,
  input: { email: string; password: string; roles?: string[] },
): Promise<{ id: string; email: string }> {
  const email = normalizeEmail(input.email);
  if (!emailSchema.safeParse(email).success) throw new InputError('email is not a valid e-mail address');
  const problem = passwordProblem(input.password);
  if (problem) throw new InputError(problem);
  const roles = [...new Set(input.roles ?? [])];
  for (const role of roles) if (!ROLES.includes(role as Role)) throw new InputError(`unknown role "${role}" (use ${ROLES.join(' or ')})`);
  const existing = await services.db.prisma.user.findUnique({ where: { email }, select: { id: true } });
  if (existing) throw new InputError('a user with this e-mail already exists');
  const id = randomUUID();
  const passwordHash = await services.passwords.hash(input.password);
  await services.db.prisma.user.create({ data: { id, email, passwordHash, roles } });
  return { id, email };
}

export async function findUserById(services: Pick<Services, 'db'>, id: string): Promise<User | undefined> {
  const row = await services.db.prisma.user.findUnique({ where: { id } });
  return row ? { id: row.id, email: row.email, roles: row.roles, disabled: row.disabledAt !== null } : undefined;
}

/**
 * Password sign-in. The same answer (undefined) for an unknown e-mail, a wrong password or a
 * disabled account, and an argon2 verification in every case so timing tells nothing either.
 */
export async function verifyPasswordSignIn(
  services: Pick<Services, 'db' | 'passwords'>,
  emailInput: string,
  password: string,
): Promise<User | undefined> {
  const email = normalizeEmail(emailInput);
  const row = email.length <= 254 && storableText(email) ? await services.db.prisma.user.findUnique({ where: { email } }) : null;
  const ok = await services.passwords.verify(row?.passwordHash, password);
  if (!ok || !row || row.disabledAt) return undefined;
  if (services.passwords.needsRehash(row.passwordHash)) {
    // Parameters were raised since this hash was made: upgrade it now that we know the password.
    await services.db.prisma.user.update({ where: { id: row.id }, data: { passwordHash: await services.passwords.hash(password) } });
  }
  return { id: row.id, email: row.email, roles: row.roles, disabled: false };
}
