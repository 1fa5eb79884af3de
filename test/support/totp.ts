/**
 * The tests' authenticator app: the code to type now for a secret Latchkey showed, without
 * waiting for the next 30-second step unless the server would refuse every code left.
 *
 * What the server accepts (src/accounts/totp.ts): the code of the current step, of one step
 * behind or of one step ahead (clock drift), and only of a step after the last one it accepted
 * for the user (a code works once). So after a code of step N, the code of N + 1 is accepted at
 * once; only a third code within one step has to wait for the clock.
 *
 * The step behind is never chosen: it leaves the window when the current step ends, possibly
 * while the request is in flight. The current step and the one ahead stay in the window for at
 * least a whole step, so a code handed out here is still good when the server reads it, and a
 * replayed one is still in the window (refused because it was used, not because it is old).
 */
import { generate } from 'otplib';

export const TOTP_PERIOD_SECONDS = 30;

export const timeStepAt = (ms: number) => Math.floor(ms / 1000 / TOTP_PERIOD_SECONDS);
export const currentTimeStep = () => timeStepAt(Date.now());

/** The code of a given time step (for drift and replay cases). */
export const codeOfStep = (secret: string, step: number) => generate({ secret, epoch: step * TOTP_PERIOD_SECONDS });

/**
 * The step whose code the server accepts at `nowMs` after it accepted `lastAccepted` (undefined:
 * none yet), the earliest such step, so later codes are left for later; undefined when every
 * step it would accept now is used up.
 */
export function usableStep(nowMs: number, lastAccepted?: number): number | undefined {
  const now = timeStepAt(nowMs);
  const step = lastAccepted === undefined ? now : Math.max(now, lastAccepted + 1);
  return step <= now + 1 ? step : undefined;
}

const untilNextStep = () => new Promise((resolve) => setTimeout(resolve, (TOTP_PERIOD_SECONDS * 1000 - (Date.now() % (TOTP_PERIOD_SECONDS * 1000))) + 20));

/** A code the server accepts now after `lastAccepted`, and its step; waits for the clock only when no step is left. */
export async function usableCode(secret: string, lastAccepted?: number): Promise<{ code: string; step: number }> {
  for (;;) {
    const step = usableStep(Date.now(), lastAccepted);
    if (step !== undefined) return { code: await codeOfStep(secret, step), step };
    await untilNextStep();
  }
}

/**
 * Waits out the last `seconds` of a time step (at most that long), for a test that computes a
 * step from the clock and needs the server to see the same "now" (e.g. two steps ahead must be
 * refused: one step later it would be one ahead, and accepted).
 */
export async function clearOfStepEnd(seconds = 4): Promise<void> {
  const left = TOTP_PERIOD_SECONDS - ((Date.now() / 1000) % TOTP_PERIOD_SECONDS);
  if (left <= seconds) await untilNextStep();
}

/**
 * One user's authenticator app: hands out codes the server has not accepted yet, remembering
 * the step of each (a code handed out counts as used, whether or not the test sent it).
 */
export class AuthenticatorApp {
  /** The step of the last code handed out (or accepted before this app was made). */
  lastStep: number | undefined;

  readonly secret: string;

  constructor(secret: string, lastStep?: number) {
    this.secret = secret;
    this.lastStep = lastStep;
  }

  /** The next code to type, waiting only when the server would accept no code right now. */
  async nextCode(): Promise<string> {
    const { code, step } = await usableCode(this.secret, this.lastStep);
    this.lastStep = step;
    return code;
  }

  /** The last code handed out again, as someone replaying it would send it. */
  lastCode(): Promise<string> {
    if (this.lastStep === undefined) throw new Error('no code was handed out yet');
    return codeOfStep(this.secret, this.lastStep);
  }
}

/** The secret from Latchkey's enrolment page: the key is shown in groups of four for people typing it. */
export const secretFromPage = (shownKey: string) => shownKey.replace(/\s+/g, '');
