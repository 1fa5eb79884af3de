/**
 * The pure parts of e-mail (src/mail/): which send failures are worth another try, the one line
 * the log and the audit trail get (never a link), and the templates (subject line, escaping).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderMail } from '../../src/mail/render.ts';
import { describeSendFailure, isTransientSendFailure } from '../../src/mail/send-failure.ts';

const smtpError = (fields: Record<string, unknown>, message = 'failed') => Object.assign(new Error(message), fields);

describe('send failures', () => {
  test('no connection, a timeout or a 4xx answer are retried; a 5xx answer or a bad certificate are not', () => {
    assert.equal(isTransientSendFailure(smtpError({ code: 'ESOCKET' }, 'connect ECONNREFUSED 127.0.0.1:25')), true);
    assert.equal(isTransientSendFailure(smtpError({ code: 'ETIMEDOUT' })), true);
    assert.equal(isTransientSendFailure(smtpError({ code: 'EENVELOPE', responseCode: 451 })), true);
    assert.equal(isTransientSendFailure(smtpError({ code: 'EENVELOPE', responseCode: 550 })), false);
    assert.equal(isTransientSendFailure(smtpError({ code: 'EAUTH', responseCode: 535 })), false);
    assert.equal(isTransientSendFailure(smtpError({ code: 'ESOCKET' }, 'certificate has expired')), false);
    assert.equal(isTransientSendFailure(smtpError({ code: 'ESOCKET' }, 'self-signed certificate')), false);
    assert.equal(isTransientSendFailure(new Error('template missing')), false);
  });

  test('the reason names code and answer, on one line, without any link', () => {
    const reason = describeSendFailure(smtpError({ code: 'EMESSAGE', responseCode: 554 }, 'Message rejected: http://id.example.com/reset-password/choose?token=abc\r\nspam'));
    assert.equal(reason, 'EMESSAGE 554: Message rejected: [link] spam');
    assert.doesNotMatch(reason, /token/);
    assert.ok(describeSendFailure(smtpError({}, 'x'.repeat(1000))).length <= 300);
  });
});

describe('templates (views/mail/)', () => {
  test('every message has a subject, a text and an HTML part with the link', () => {
    const link = 'https://id.example.com/signup/verify?token=abc';
    for (const template of ['verify-email', 'invite', 'reset-password']) {
      const mail = renderMail(template, { issuer: 'https://id.example.com', link, email: 'a@example.com', expiresHours: 24, expiresMinutes: 30 });
      assert.ok(mail.subject.length > 0 && !/[\r\n]/.test(mail.subject), template);
      assert.ok(mail.text.includes(link), template);
      assert.ok(mail.html.includes(`href="${link}"`), template);
      assert.doesNotMatch(mail.text, /^Subject:/m, 'the subject line is not part of the body');
    }
    for (const template of ['account-exists', 'reset-no-account', 'password-changed', 'email-change-verify', 'email-changed']) {
      const mail = renderMail(template, { issuer: 'https://id.example.com', accountLink: 'https://id.example.com/account', email: 'a@example.com', newEmail: 'b@example.com', oldEmail: 'a@example.com', when: 'now', link, expiresHours: 24 });
      assert.ok(mail.subject && mail.text && mail.html, template);
    }
  });

  test('data is escaped in HTML and cannot add a header through the subject', () => {
    const mail = renderMail('invite', { issuer: 'https://id.example.com', link: 'https://x/"><script>', email: '<b>a@example.com</b>', expiresHours: 72 });
    assert.doesNotMatch(mail.html, /<script>|<b>a@/);
    assert.match(mail.text, /<b>a@example.com<\/b>/, 'plain text is plain');
    const subject = renderMail('invite', { issuer: 'https://id.example.com\r\nBcc: x@evil.example', link: 'l', email: 'e', expiresHours: 1 }).subject;
    assert.doesNotMatch(subject, /[\r\n]/);
  });

  test('a template name is a file name, never a path', () => {
    assert.throws(() => renderMail('../layout', {}), /not a mail template name/);
    assert.throws(() => renderMail('Verify-Email', {}), /not a mail template name/);
  });
});
