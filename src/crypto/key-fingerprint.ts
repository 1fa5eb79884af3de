import { createHmac } from 'node:crypto';

/**
 * 8 hex digits that tell encryption keys apart in messages and in the control socket's identity
 * (admin/control-socket.ts); an HMAC, so it says nothing about the key. A file of its own so that
 * a CLI command asking a running server loads node:crypto only, not the key store (jose, storage).
 */
export const keyFingerprint = (key: Buffer): string => createHmac('sha256', key).update('latchkey key fingerprint').digest('hex').slice(0, 8);
