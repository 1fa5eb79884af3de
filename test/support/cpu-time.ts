/**
 * The CPU time `npm test` used, printed beside its wall time (test/run.ts). The suite keeps this
 * 2-core machine busy, so its wall time moves with whatever else the machine does (a slower
 * virtual machine, a busy host); the CPU seconds it spent move much less, and so say better whether
 * a change made the suite cheaper.
 */
import { readFileSync } from 'node:fs';

/** /proc reports times in USER_HZ, which Linux fixes at 100 for user space. */
const TICKS_PER_SECOND = 100;

export interface CpuSeconds {
  user: number;
  system: number;
}

/**
 * Pure: the user and system seconds of a process and of the descendants it has waited for, from
 * its /proc/<pid>/stat line (proc(5): utime, stime, cutime and cstime are fields 14 to 17).
 */
export function cpuOfStatLine(line: string): CpuSeconds {
  // Field 2, the command name, is in parentheses and may itself hold spaces and parentheses.
  const afterName = line.slice(line.lastIndexOf(')') + 1).trim().split(/\s+/);
  // afterName[0] is field 3 (the state), so field n is afterName[n - 3].
  const [utime, stime, cutime, cstime] = [14, 15, 16, 17].map((field) => Number(afterName[field - 3]));
  if (line.lastIndexOf(')') < 0 || ![utime, stime, cutime, cstime].every(Number.isInteger)) throw new Error('not a /proc/<pid>/stat line');
  return { user: (utime + cutime) / TICKS_PER_SECOND, system: (stime + cstime) / TICKS_PER_SECOND };
}

/**
 * This process and everything it started and waited for: the passes, their test processes, and
 * the servers, CLI commands and browsers those started. A process its parent did not wait for
 * is not counted: in a whole run that is about a sixth (some of Chromium's helper processes,
 * PostgreSQL's server, which pg_ctl leaves running), so compare this figure with itself, not with
 * a sampler's. Undefined where there is no /proc.
 */
export function cpuOfThisProcessTree(): CpuSeconds | undefined {
  try {
    return cpuOfStatLine(readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return undefined;
  }
}
