/**
 * A node:test reporter (test/run.ts adds it beside `spec`): at the end of a pass, the slowest
 * test files by wall time, so whoever makes the suite slower sees where. A file's time runs
 * from the first to the last event the runner received from it, which takes in its set-up
 * (server starts, browsers) as well as its tests.
 */
import type { TestEvent } from 'node:test/reporters';

const SHOWN = 8;

export default async function* slowestFiles(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const spans = new Map<string, { first: number; last: number }>();
  for await (const event of source) {
    const file = (event.data as { file?: string } | undefined)?.file;
    if (!file) continue;
    const now = Date.now();
    const span = spans.get(file);
    if (span) span.last = now;
    else spans.set(file, { first: now, last: now });
  }
  const rows = [...spans].map(([file, { first, last }]) => ({ file, seconds: (last - first) / 1000 })).sort((a, b) => b.seconds - a.seconds);
  if (!rows.length) return;
  yield `\nSlowest files of this pass (wall time, ${rows.length} files):\n`;
  for (const { file, seconds } of rows.slice(0, SHOWN)) yield `${seconds.toFixed(1).padStart(7)} s  ${file.split('/test/').pop()}\n`;
}
