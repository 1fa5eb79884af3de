/**
 * A small closed-loop load generator for `npm run bench`: a fixed number of requests in flight
 * over keep-alive connections (node:http Agent, one socket per in-flight request), a warm-up
 * whose results are thrown away, then a measured window. Every response is checked; anything
 * that is not a 200 passing the check counts as an error, by kind.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadOptions {
  url: string;
  method?: string;
  headers: Record<string, string>;
  /** The request body, or one per worker (0 … concurrency-1), read before each request (e.g. a refresh-token chain). */
  body: string | ((worker: number) => string);
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Extra check on a 200 response body; return an error label, or undefined when fine. May keep per-worker state. */
  check?: (body: string, worker: number) => string | undefined;
  timeoutMs?: number;
  /** Called when the measured window opens and closes (e.g. to sample the servers' CPU time). */
  onMeasureStart?: () => void;
  onMeasureEnd?: () => void;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  /** Error label → count, e.g. "HTTP 500", "check: not active", "ECONNRESET". */
  errorKinds: Record<string, number>;
  /** A few error response bodies, for the report. */
  errorSamples: string[];
  /** Errors during the warm-up or after the window (not in `errors`). */
  errorsOutsideWindow: number;
  /** CPU the load generator itself used in the measured window (ms). */
  generatorCpuMs: number;
  /** Every latency of the window (ms), sorted: lets several windows be merged. */
  latencies: Float64Array;
}

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const fixedBody = typeof options.body === 'string' ? Buffer.from(options.body) : undefined;
  const bodyOf = (worker: number) => fixedBody ?? Buffer.from((options.body as (w: number) => string)(worker));
  const timeoutMs = options.timeoutMs ?? 10_000;

  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const measureUntil = measureFrom + options.durationMs;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const startTimer = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    options.onMeasureStart?.();
  }, options.warmupMs);
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  const closeWindow = () => {
    if (cpuAtEnd) return;
    cpuAtEnd = process.cpuUsage(cpuAtStart);
    options.onMeasureEnd?.();
  };
  const endTimer = setTimeout(closeWindow, options.warmupMs + options.durationMs);

  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const errorKinds: Record<string, number> = {};
  const errorSamples: string[] = [];
  let errors = 0;
  let errorsOutsideWindow = 0;

  const recordError = (kind: string, sample?: string) => {
    errors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    if (sample !== undefined && errorSamples.length < 5) errorSamples.push(`${kind}: ${sample.slice(0, 300)}`);
  };

  const once = (worker: number) =>
    new Promise<void>((resolve) => {
      const body = bodyOf(worker);
      const headers = { ...options.headers, 'content-length': String(body.length) };
      const sent = performance.now();
      const finish = (error?: { kind: string; sample?: string }) => {
        const done = performance.now();
        if (sent >= measureFrom && done <= measureUntil) {
          if (error) recordError(error.kind, error.sample);
          else {
            if (count === latencies.length) {
              const grown = new Float64Array(latencies.length * 2);
              grown.set(latencies);
              latencies = grown;
            }
            latencies[count++] = done - sent;
          }
        } else if (error) {
          errorsOutsideWindow++;
          if (errorSamples.length < 5) errorSamples.push(`(outside window) ${error.kind}: ${(error.sample ?? '').slice(0, 300)}`);
        }
        resolve();
      };
      const req = http.request(
        { hostname: url.hostname, port: url.port, path: url.pathname + url.search, method: options.method ?? 'POST', headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e: NodeJS.ErrnoException) => finish({ kind: e.code ?? e.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return finish({ kind: `HTTP ${res.statusCode}`, sample: text });
            const problem = options.check?.(text, worker);
            finish(problem ? { kind: `check: ${problem}`, sample: text } : undefined);
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: `timeout after ${timeoutMs} ms` })));
      req.on('error', (e: NodeJS.ErrnoException) => finish({ kind: e.code ?? e.message }));
      req.end(body);
    });

  const worker = async (w: number) => {
    while (performance.now() < measureUntil) await once(w);
    closeWindow();
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  // The last responses can all arrive before a late timer fires: close the window here then.
  closeWindow();
  const cpu = cpuAtEnd!;
  agent.destroy();

  return summarise(latencies.slice(0, count).sort(), options.durationMs / 1000, {
    errors,
    errorKinds,
    errorSamples,
    errorsOutsideWindow,
    generatorCpuMs: (cpu.user + cpu.system) / 1000,
  });
}

type Counts = Pick<LoadResult, 'errors' | 'errorKinds' | 'errorSamples' | 'errorsOutsideWindow' | 'generatorCpuMs'>;

function summarise(sorted: Float64Array, seconds: number, counts: Counts): LoadResult {
  return {
    requests: sorted.length,
    seconds,
    rps: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    ...counts,
    latencies: sorted,
  };
}

/** One result for several measured windows of the same path and server (rounds). */
export function mergeResults(results: LoadResult[]): LoadResult {
  const all = new Float64Array(results.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of results) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  const errorKinds: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  const sum = (f: (r: LoadResult) => number) => results.reduce((n, r) => n + f(r), 0);
  return summarise(all.sort(), sum((r) => r.seconds), {
    errors: sum((r) => r.errors),
    errorKinds,
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    errorsOutsideWindow: sum((r) => r.errorsOutsideWindow),
    generatorCpuMs: sum((r) => r.generatorCpuMs),
  });
}
