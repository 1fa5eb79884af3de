/**
 * A node:test reporter (test/run.ts adds it beside `spec`): at the end of a pass, the slowest
 * test files by wall time, so whoever makes the suite slower sees where. The runner reports each
 * file as a whole once its process ends (a `test:complete` named by the file's path), with the
 * file's duration: its set-up (servers, browsers) as well as its tests.
 */
import path from 'node:path';
import type { TestEvent } from 'node:test/reporters';

const SHOWN = 8;

export default async function* slowestFiles(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const seconds = new Map<string, number>();
  for await (const event of source) {
    if (event.type !== 'test:complete') continue;
    const { name, file, details } = event.data as { name: string; file?: string; details: { duration_ms?: number } };
    if (file && path.resolve(name) === file && details.duration_ms !== undefined) seconds.set(file, details.duration_ms / 1000);
  }
  const rows = [...seconds].sort((a, b) => b[1] - a[1]);
  if (!rows.length) return;
  yield `\nSlowest files of this pass (wall time, ${rows.length} files):\n`;
  for (const [file, s] of rows.slice(0, SHOWN)) yield `${s.toFixed(1).padStart(7)} s  ${file.split('/test/').pop()}\n`;
}
