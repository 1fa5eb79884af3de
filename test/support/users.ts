import { randomBytes } from 'node:crypto';
import type { Latchkey } from './latchkey.ts';

/** The password the tests' users sign in with (long enough for the password policy without a second factor). */
export const TEST_PASSWORD = 'correct horse battery staple';

/** An e-mail address no test used before, starting with `label` (for an account or not yet one). */
export const uniqueEmail = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.com`;

/** A new user through the CLI's `user create` operation (Latchkey.operate), under a unique e-mail address that starts with `label`. */
export async function createTestUser(
  latchkey: Latchkey,
  label: string,
  options: { roles?: string[]; password?: string } = {},
): Promise<{ email: string; password: string; id: string }> {
  const email = uniqueEmail(label);
  const password = options.password ?? TEST_PASSWORD;
  const roles = (options.roles ?? []).flatMap((role) => ['--role', role]);
  const created = await latchkey.operate(['user', 'create', '--email', email, '--password-stdin', ...roles], { stdin: password });
  return { email, password, id: String(created?.id ?? '') };
}
