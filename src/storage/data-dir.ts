import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * DATA_DIR holds the embedded database, the development encryption key, the control socket and
 * the mail outbox (e-mails written there without SMTP_URL, links included): readable by its
 * owner only. A directory that existed before with wider modes (made by hand, restored from a
 * backup, unpacked from an archive) is narrowed at every start, not only
 * when Latchkey creates it: DATA_DIR and the directories of its own entries 0700, their files
 * 0600 (the socket included), never following a symbolic link.
 */
export function restrictToOwner(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if ((lstatSync(dataDir).mode & 0o777) !== 0o700) chmodSync(dataDir, 0o700);
  // Only what Latchkey keeps there: a DATA_DIR pointed at a directory with other contents
  // (by mistake) is closed to others by its own mode, and its other files are left as they are.
  for (const name of LATCHKEY_FILES) {
    const target = path.join(dataDir, name);
    if (existsSync(target)) narrow(target);
  }
}

const LATCHKEY_FILES = ['pglite', 'encryption.key', 'pglite.pid', 'latchkey.sock', 'outbox'];

function narrow(target: string): void {
  const stat = lstatSync(target);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== 0o700) chmodSync(target, 0o700);
    for (const name of readdirSync(target)) narrow(path.join(target, name));
    return;
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(target, (stat.mode & 0o700) | 0o600);
}
