/**
 * The control socket (src/admin/control-socket.ts) from the CLI's side. Who would abuse it:
 * another local user planting a socket in a DATA_DIR they can write to, to collect the passwords
 * and secrets that commands carry; an operator's CLI pointed at another database than the
 * running server's, which must not write into the server's database; a second instance on the
 * same DATA_DIR (PostgreSQL), which must not take the first one's socket away.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { callControlSocket, controlSocketPath, controlIdentity, listenControlSocket } from '../../src/admin/control-socket.ts';
import { createLogger } from '../../src/logger.ts';

const logger = createLogger({ logLevel: 'silent' });
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-socket-'));
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const POSTGRES = 'postgres://latchkey:s3cret@127.0.0.1:5432/latchkey';
const echo = (label: string) => async (name: string, input: unknown) => ({ label, name, input });

const KEY = Buffer.alloc(32, 7);

test('the identity names the database and the key, never a password or the key itself', () => {
  const identity = controlIdentity({ databaseUrl: POSTGRES, encryptionKey: KEY });
  assert.match(identity, /^postgres:latchkey@127\.0\.0\.1:5432\/latchkey, key [0-9a-f]{8}$/);
  assert.doesNotMatch(identity, /s3cret/);
  assert.ok(!identity.includes(KEY.toString('base64')) && !identity.includes(KEY.toString('hex')));
  assert.equal(controlIdentity({ databaseUrl: 'postgresql://u@db.internal/other?sslmode=require', encryptionKey: undefined }), 'postgres:u@db.internal:5432/other, key file in DATA_DIR');
  assert.equal(controlIdentity({ databaseUrl: undefined, encryptionKey: undefined }), 'embedded, key file in DATA_DIR');
});

test('a server on the same database with the same key runs the operation; one on another database or with another key declines, so the CLI opens the database itself', async () => {
  const dataDir = tempDir();
  const close = await listenControlSocket({ dataDir, databaseUrl: POSTGRES }, echo('server') as never, logger);
  try {
    const answer = await callControlSocket({ dataDir, databaseUrl: POSTGRES }, 'api.list', { a: 1 });
    assert.deepEqual(answer, { result: { label: 'server', name: 'api.list', input: { a: 1 } } });
    assert.equal(await callControlSocket({ dataDir, databaseUrl: 'postgres://latchkey:s3cret@127.0.0.1:5432/staging' }, 'api.list', {}), undefined);
    assert.equal(await callControlSocket({ dataDir, databaseUrl: undefined }, 'api.list', {}), undefined);
    assert.equal(await callControlSocket({ dataDir, databaseUrl: POSTGRES, encryptionKey: KEY }, 'api.list', {}), undefined);
  } finally {
    await close();
  }
  assert.equal(existsSync(controlSocketPath(dataDir)), false, 'the socket file is removed on close');
  assert.equal(await callControlSocket({ dataDir, databaseUrl: POSTGRES }, 'api.list', {}), undefined);
});

test('a socket in a DATA_DIR others may write to, or a file that is not a socket, is not asked', async () => {
  const dataDir = tempDir();
  const close = await listenControlSocket({ dataDir, databaseUrl: undefined }, echo('server') as never, logger);
  try {
    assert.ok(await callControlSocket({ dataDir, databaseUrl: undefined }, 'api.list', {}));
    chmodSync(dataDir, 0o777);
    assert.equal(await callControlSocket({ dataDir, databaseUrl: undefined }, 'api.list', {}), undefined);
    chmodSync(dataDir, 0o700);
  } finally {
    await close();
  }
  writeFileSync(controlSocketPath(dataDir), 'not a socket');
  assert.equal(await callControlSocket({ dataDir, databaseUrl: undefined }, 'api.list', {}), undefined);
});

test('two instances on one DATA_DIR (PostgreSQL): the first keeps the socket; when it stops the CLI finds none and opens its own', async () => {
  const dataDir = tempDir();
  const closeFirst = await listenControlSocket({ dataDir, databaseUrl: POSTGRES }, echo('first') as never, logger);
  const closeSecond = await listenControlSocket({ dataDir, databaseUrl: POSTGRES }, echo('second') as never, logger);
  try {
    const answer = (await callControlSocket({ dataDir, databaseUrl: POSTGRES }, 'api.list', {})) as { result: { label: string } };
    assert.equal(answer.result.label, 'first');
    await closeSecond();
    assert.equal(((await callControlSocket({ dataDir, databaseUrl: POSTGRES }, 'api.list', {})) as { result: { label: string } }).result.label, 'first');
  } finally {
    await closeFirst();
  }
  assert.equal(await callControlSocket({ dataDir, databaseUrl: POSTGRES }, 'api.list', {}), undefined);
});

test('on PostgreSQL a DATA_DIR that cannot hold a socket is no reason to refuse to start; on the embedded database it is', async () => {
  const blocked = path.join(tempDir(), 'file');
  writeFileSync(blocked, 'a file where DATA_DIR should be');
  const close = await listenControlSocket({ dataDir: blocked, databaseUrl: POSTGRES }, echo('server') as never, logger);
  await close();
  await assert.rejects(listenControlSocket({ dataDir: blocked, databaseUrl: undefined }, echo('server') as never, logger));
});
