/**
 * Pure: what a failed send means. nodemailer's errors carry `code` (ECONNECTION, ETIMEDOUT,
 * EAUTH, EENVELOPE, ETLS, …), and for an SMTP answer `responseCode` and `response`.
 */
interface SendError {
  code?: unknown;
  responseCode?: unknown;
  message?: unknown;
}

/**
 * Worth another try: no answer at all (refused, reset, timed out, DNS) or a temporary SMTP
 * answer (4xx, RFC 5321 §4.2.1). A permanent answer (5xx: unknown mailbox, authentication
 * refused, message rejected) would be refused again; so would a certificate that does not verify.
 */
export function isTransientSendFailure(error: unknown): boolean {
  const { code, responseCode, message } = (error ?? {}) as SendError;
  if (typeof responseCode === 'number') return responseCode >= 400 && responseCode < 500;
  // A certificate that does not verify arrives as a socket error too: retrying will not fix it.
  if (/certificate|self[- ]signed|\btls\b|\bssl\b/i.test(String(message ?? ''))) return false;
  return ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET'].includes(String(code));
}

/**
 * One line for the log and the audit trail: the error code, the SMTP answer's code and text.
 * Anything that looks like a URL is cut out: a server that echoes the message back in its
 * answer must not put a sign-up or reset link into the log.
 */
export function describeSendFailure(error: unknown): string {
  const { code, responseCode, message } = (error ?? {}) as SendError;
  const parts = [typeof code === 'string' ? code : undefined, typeof responseCode === 'number' ? String(responseCode) : undefined].filter(Boolean);
  const text = String(message ?? error ?? 'unknown error')
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[link]')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim()
    .slice(0, 300);
  return parts.length ? `${parts.join(' ')}: ${text}` : text;
}
