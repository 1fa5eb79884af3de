import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { PASSWORD_MAX_LENGTH, passwordProblem } from './password-policy.ts';
import { setPasswordHash } from './user-queries.ts';

/** A signed-in user's own password: checked again (re-authentication), and changed. */
type Deps = Pick<Services, 'db' | 'passwords'>;

/** An argon2 verification whatever the input, so a wrong guess and a refused one cost the same. */
export async function verifyUserPassword(services: Deps, userId: string, password: string): Promise<boolean> {
  const row = await services.db.prisma.user.findUnique({ where: { id: userId }, select: { passwordHash: true, disabledAt: true } });
  const ok = await services.passwords.verify(row?.passwordHash, password.length <= PASSWORD_MAX_LENGTH ? password : '');
  return ok && password.length > 0 && password.length <= PASSWORD_MAX_LENGTH && !row?.disabledAt;
}

/** Sets a new password under the password policy; an InputError names what is wrong with it. */
export async function setUserPassword(services: Deps, user: { id: string; email: string }, password: string, context: { hasSecondFactor: boolean }): Promise<void> {
  const problem = passwordProblem(password, { hasSecondFactor: context.hasSecondFactor, email: user.email });
  if (problem) throw new InputError(problem, 'new_password');
  await setPasswordHash(services.db.prisma, user.id, await services.passwords.hash(password));
}
