import type { Services } from '../context.ts';
import { NotFoundError } from '../errors.ts';

/**
 * `latchkey user disable`: the user can no longer sign in (findAccount and the password check
 * refuse disabled users), their browser sessions end, refresh tokens stop working (oidc-provider
 * finds no account), and — through the Token Status List — their JWT access tokens are refused
 * by resource servers within seconds. Grants are kept, so re-enabling is possible later.
 */
export async function disableUser(services: Pick<Services, 'db'>, input: { email: string }) {
  const { rows } = await services.db.sql.query<{ id: string }>(
    'UPDATE "user" SET disabled_at = COALESCE(disabled_at, now()), updated_at = now() WHERE lower(email) = lower($1) RETURNING id',
    [input.email],
  );
  const id = rows[0]?.id;
  if (!id) throw new NotFoundError(`no user with e-mail ${input.email}`);
  const { rowCount } = await services.db.sql.query("DELETE FROM oidc_payload WHERE model = 'Session' AND account_id = $1", [id]);
  return { user_id: id, status: 'disabled', sessions_ended: rowCount };
}
