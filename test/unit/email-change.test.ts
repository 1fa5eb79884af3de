/**
 * The pure parts of "change e-mail" (src/accounts/email-change.ts): which addresses are accepted,
 * what a link's token looks like, and the e-mails it sends (views/mail/email-change-*).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { acceptableNewEmail, confirmLink, isChangeToken } from '../../src/accounts/email-change.ts';
import { InputError } from '../../src/errors.ts';
import { renderMail } from '../../src/mail/render.ts';

describe('acceptableNewEmail', () => {
  test('normalizes a valid address', () => {
    assert.equal(acceptableNewEmail('  New.Person@Example.COM '), 'new.person@example.com');
  });

  test('refuses what is not one mailbox, too long, or carries control characters, naming the field', () => {
    for (const bad of ['', 'no at sign', 'a@b', 'two@example.com, three@example.com', 'a\u0000@example.com', 'line@example.com\r\nBcc: x@example.com',
      `${'a'.repeat(65)}@example.com`, `a@${'b'.repeat(250)}.com`, undefined, 42, ['a@example.com']]) {
      assert.throws(() => acceptableNewEmail(bad), (error: unknown) => error instanceof InputError && error.field === 'email', JSON.stringify(bad));
    }
  });
});

describe('isChangeToken', () => {
  test('43 base64url characters and nothing else', () => {
    assert.equal(isChangeToken('A'.repeat(43)), true);
    for (const bad of ['A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}=`, `${'A'.repeat(42)}\u0000`, undefined, ['A'.repeat(43)]]) assert.equal(isChangeToken(bad), false);
  });
});

describe('the e-mails', () => {
  const issuer = 'https://id.example.com';
  const link = confirmLink({ issuer }, 'T'.repeat(43));

  test('the link goes to the new address only; the notices and the "in use" mail carry no confirmation link', () => {
    const verify = renderMail('email-change-verify', { issuer, link, oldEmail: 'old@example.com', expiresHours: 24 });
    assert.ok(verify.text.includes(link) && verify.html.includes(`href="${link}"`));
    for (const template of ['email-change-taken', 'email-change-requested', 'email-changed']) {
      const mail = renderMail(template, { issuer, oldEmail: 'old@example.com', newEmail: 'new@example.com', accountLink: `${issuer}/account`, when: 'now', expiresHours: 24 });
      assert.ok(mail.subject && !/[\r\n]/.test(mail.subject), template);
      assert.ok(!mail.text.includes('/account/email/confirm') && !mail.html.includes('/account/email/confirm'), template);
    }
  });

  test('an address shown in a mail is escaped in the HTML part', () => {
    const mail = renderMail('email-change-requested', { issuer, newEmail: '<b>x</b>@example.com', accountLink: `${issuer}/account`, expiresHours: 24 });
    assert.ok(!mail.html.includes('<b>x</b>') && mail.html.includes('&lt;b&gt;'));
  });
});

describe('emailChangeAvailable', () => {
  test('offered with a mail server, or outside production; not in production with only the outbox', async () => {
    const { emailChangeAvailable } = await import('../../src/account/email-routes.ts');
    const at = (production: boolean, transport: 'smtp' | 'outbox') => emailChangeAvailable({ config: { production }, mailer: { transport } } as never);
    assert.equal(at(true, 'smtp'), true);
    assert.equal(at(false, 'outbox'), true);
    assert.equal(at(true, 'outbox'), false);
  });
});
