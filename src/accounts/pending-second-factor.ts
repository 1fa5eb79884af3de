import type { Services } from '../context.ts';
import { getEphemeral, putEphemeral, takeEphemeral } from '../storage/ephemeral-store.ts';
import type { EnrolmentOwner } from './totp.ts';

/**
 * The `login` prompt is resolved only once every required factor has passed; until then "first
 * factor OK for account X" lives in a server-side record keyed by the interaction uid that
 * expires with the interaction (storage/ephemeral-store.ts). The sign-in steps of
 * src/interactions/ read and write it here; pending-guards.ts there checks its stage.
 */
export interface Pending {
  accountId: string;
  /** amr of the first factor: ['pwd'] after the password, or the session's amr on step-up */
  first: string[];
  stage: 'verify' | 'enroll' | 'done';
  /** for stage 'done' */
  amr?: string[];
  showCodes?: boolean;
  notice?: string;
  /** an app asked for more than the session has (acr_values): the page says so, and for which app */
  stepUp?: boolean;
}

/** What the record needs of an interaction: its uid, and its expiry (seconds since the epoch). */
export interface PendingInteraction {
  uid: string;
  exp?: number;
}

const PENDING = 'LatchkeyMfaPending';

const interactionExpiry = (interaction: PendingInteraction) => new Date((interaction.exp ?? Math.floor(Date.now() / 1000) + 3600) * 1000);

export const savePending = (services: Pick<Services, 'db'>, interaction: PendingInteraction, pending: Pending) =>
  putEphemeral(services.db.sql, PENDING, interaction.uid, pending, interactionExpiry(interaction));
export const loadPending = (services: Pick<Services, 'db'>, uid: string) => getEphemeral<Pending>(services.db.sql, PENDING, uid);
export const clearPending = (services: Pick<Services, 'db'>, uid: string) => takeEphemeral(services.db.sql, PENDING, uid);

/** A TOTP enrolment started at sign-in belongs to the interaction, and expires with it. */
export const enrolmentOwner = (interaction: PendingInteraction): EnrolmentOwner => ({ kind: 'interaction', id: interaction.uid, expiresAt: interactionExpiry(interaction) });

/** amr values in first-seen order, each once. */
export const uniqueAmr = (values: string[]) => [...new Set(values)];
