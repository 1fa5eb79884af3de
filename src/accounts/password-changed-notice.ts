import type { Services } from '../context.ts';
import { MailNotSentError, type MailContext } from '../mail/mailer.ts';

/**
 * Tells the owner by e-mail that their password was changed (views/mail/password-changed.*):
 * whoever changed it, the owner hears of it. The change stands whatever happens to the e-mail:
 * a failed send is logged and audited (`mail.failed`) by the mailer, and reported here as false.
 */
export async function notifyPasswordChanged(
  services: Pick<Services, 'config' | 'mailer'>,
  user: { id: string; email: string },
  options: { signedOut: boolean },
  context: MailContext = {},
): Promise<boolean> {
  try {
    await services.mailer.send(
      {
        to: user.email,
        template: 'password-changed',
        data: { email: user.email, when: new Date().toUTCString(), signedOut: options.signedOut, accountLink: `${services.config.issuer}/account` },
      },
      { ...context, userId: user.id },
    );
    return true;
  } catch (error) {
    if (error instanceof MailNotSentError) return false;
    throw error;
  }
}
