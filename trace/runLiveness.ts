/**
 * Whether a run that says "running" still runs: summary.json and the extension's run
 * records name the run's processes (pid, start time, host); a reader checks them. Shared
 * by the runtime (which records them), the CLI (verify) and the extension (the runs view),
 * so every surface calls the same run interrupted.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** A process of a run, as summary.json records it. */
export interface RunProcess {
  pid: number;
  /** `<boot id>:<start time in clock ticks>` on Linux; absent where it cannot be read. */
  startTime?: string;
  role?: 'supervisor' | 'trainer';
  /** The machine it ran on: a run written to a shared folder from elsewhere cannot be judged here. */
  host?: string;
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** When process `pid` started (Linux: boot id and field 22 of /proc/<pid>/stat), or undefined. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields[19];
  const boot = bootId();
  return ticks && boot ? `${boot}:${ticks}` : undefined;
}

/** True when `p` still runs: the pid exists and, where recorded, started when recorded. */
export function processAlive(p: RunProcess): boolean {
  if (!Number.isInteger(p.pid) || p.pid <= 0) return false;
  // Another machine's process: assume it lives (nothing here can tell).
  if (p.host !== undefined && p.host !== hostname()) return true;
  try {
    process.kill(p.pid, 0);
  } catch (e) {
    // EPERM: it exists, under another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (p.startTime === undefined) return true;
  const now = processStartTime(p.pid);
  // Where the start time cannot be read now, the pid's existence has to do.
  return now === undefined || now === p.startTime;
}

function validProcesses(v: unknown): RunProcess[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: RunProcess[] = [];
  for (const p of v) {
    if (typeof p !== 'object' || p === null) continue;
    const { pid, startTime, host } = p as Record<string, unknown>;
    if (typeof pid === 'number' && Number.isInteger(pid) && pid > 0)
      out.push({
        pid,
        ...(typeof startTime === 'string' ? { startTime } : {}),
        ...(typeof host === 'string' ? { host } : {}),
      });
  }
  return out.length ? out : undefined;
}

/**
 * How a summary that says 'running' should be read: 'running' while one of the processes
 * it names lives, 'interrupted' when they are all gone (killed with the whole process
 * group, the machine rebooted). A summary that names no process is taken at its word.
 */
export function runLiveness(
  summary: { status?: unknown; processes?: unknown } | undefined,
): 'running' | 'interrupted' | undefined {
  if (!summary || summary.status !== 'running') return undefined;
  const procs = validProcesses(summary.processes);
  if (!procs) return 'running';
  return procs.some(processAlive) ? 'running' : 'interrupted';
}

/** What to tell a user who asked for the results of a run that has none yet (or never will). */
export function unfinishedRunMessage(
  runDir: string,
  state: 'running' | 'interrupted',
  stepsCompleted: unknown,
): string {
  const n = typeof stepsCompleted === 'number' ? stepsCompleted : 0;
  return state === 'running'
    ? `the run in ${runDir} is still running (${n} steps so far), so it has no analysis yet: wait for it to finish, or cancel it`
    : `the run in ${runDir} was interrupted: its processes ended without finishing it (${n} steps recorded), so it has no analysis; profile it again`;
}
