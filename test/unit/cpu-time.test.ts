import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuOfStatLine, cpuOfThisProcessTree } from '../support/cpu-time.ts';

test('cpuOfStatLine: own and waited-for children, a command name with spaces and parentheses', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
  const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 100 200 0 0 1234 567 89012 3456 20 0 11 0 123 456789 1234 18446744073709551615';
  assert.deepEqual(cpuOfStatLine(line), { user: (1234 + 89012) / 100, system: (567 + 3456) / 100 });
});

test('cpuOfStatLine: anything else is refused rather than read as zero', () => {
  assert.throws(() => cpuOfStatLine('no parentheses here 1 2 3'), /not a \/proc/);
  assert.throws(() => cpuOfStatLine('1 (short) S 1 2'), /not a \/proc/);
});

test('cpuOfThisProcessTree: on Linux, this process has used some CPU, and a busy loop adds to it', { skip: process.platform !== 'linux' && 'no /proc' }, () => {
  const before = cpuOfThisProcessTree()!;
  const until = process.cpuUsage().user + 300_000;
  while (process.cpuUsage().user < until); // 0.3 s of user CPU
  const after = cpuOfThisProcessTree()!;
  assert.ok(after.user - before.user >= 0.2, `user CPU grew by ${after.user - before.user} s`);
});
