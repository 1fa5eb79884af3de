import type { Services } from '../context.ts';
import { deleteEphemeral, getEphemeral, putEphemeral } from '../storage/ephemeral-store.ts';

/**
 * New recovery codes waiting on the account page to be saved (POST → redirect → GET, so a
 * reload shows them again instead of "Method Not Allowed" or new codes). Held for one browser
 * session, at most SHOW_SECONDS, encrypted under ENCRYPTION_KEY (bound to the session), in
 * the ephemeral store, so the purge job removes what is left; "I have saved them" deletes them
 * at once.
 */
const MODEL = 'LatchkeyShownRecoveryCodes' as const;
const SHOW_SECONDS = 900;

type Deps = Pick<Services, 'db' | 'encryptor'>;

const context = (sessionUid: string) => `shown-recovery-codes:${sessionUid}`;

interface Sealed {
  sealed?: string;
}

export async function holdCodesToShow(services: Deps, sessionUid: string, codes: string[]): Promise<void> {
  const sealed = services.encryptor.encrypt(JSON.stringify(codes), context(sessionUid));
  await putEphemeral(services.db.sql, MODEL, sessionUid, { sealed } satisfies Sealed, new Date(Date.now() + SHOW_SECONDS * 1000));
}

export async function codesToShow(services: Deps, sessionUid: string): Promise<string[] | undefined> {
  const payload = await getEphemeral<Sealed>(services.db.sql, MODEL, sessionUid);
  if (!payload?.sealed) return undefined;
  return JSON.parse(services.encryptor.decrypt(payload.sealed, context(sessionUid))) as string[];
}

export async function forgetCodesToShow(services: Pick<Services, 'db'>, sessionUid: string): Promise<void> {
  await deleteEphemeral(services.db.sql, MODEL, sessionUid);
}
