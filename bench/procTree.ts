/**
 * Runs a command under a time and memory limit and measures its whole process tree: wall
 * time and peak resident memory, summed over the process and all its descendants, sampled
 * from /proc every `sampleMs` (threads' children included, through /proc/PID/task/TID/children),
 * and never below the largest single process's own high-water mark.
 * The tree is killed (SIGKILL to each process found) when it passes either limit.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface TreeRun {
  code: number | null;
  /** 'time' or 'memory' when the run was stopped at a limit. */
  killedFor?: 'time' | 'memory';
  wallMs: number;
  peakRssBytes: number;
  /**
   * CPU seconds of the whole tree (user + system, every thread and every descendant that was
   * waited for): this process's children's CPU (cutime + cstime) after the run less before. Runs
   * must not overlap for it to be one run's.
   */
  cpuS: number;
  stdout: string;
  stderr: string;
}

const PAGE = 4096;

function descendants(pid: number, into: number[]): void {
  into.push(pid);
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const t of tasks) {
    let kids: string;
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const k of kids.split(' ')) if (k.trim()) descendants(Number(k), into);
  }
}

/**
 * The tree's resident memory now (summed over its processes), and the largest high-water mark
 * (VmHWM) of any one of them: a peak between two samples is lost from the sum, not from a
 * process's own mark.
 */
function treeRss(pid: number): { rss: number; hwm: number; pids: number[] } {
  const pids: number[] = [];
  descendants(pid, pids);
  let rss = 0,
    hwm = 0;
  for (const p of pids) {
    try {
      rss += Number(readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]) * PAGE;
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
    } catch {
      /* the process ended between listing and reading */
    }
  }
  return { rss, hwm, pids };
}

let ticksPerS: number | undefined;

/** CPU seconds of this process's children that have ended and been waited for. */
function childrenCpuS(): number {
  ticksPerS ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, cutime 16, cstime 17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[16 - 3]) + Number(f[17 - 3])) / ticksPerS;
}

export function runTree(
  cmd: string,
  args: string[],
  limits: { timeMs: number; rssBytes: number; sampleMs?: number },
  env?: NodeJS.ProcessEnv,
): Promise<TreeRun> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuS();
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20000)));
    let peak = 0;
    let killedFor: TreeRun['killedFor'];
    const kill = (why: 'time' | 'memory') => {
      if (killedFor) return;
      killedFor = why;
      for (const p of treeRss(child.pid!).pids.reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    };
    const sample = () => {
      if (child.pid === undefined) return;
      const { rss, hwm } = treeRss(child.pid);
      peak = Math.max(peak, rss, hwm);
      if (rss > limits.rssBytes) kill('memory');
      if (performance.now() - t0 > limits.timeMs) kill('time');
    };
    const timer = setInterval(sample, limits.sampleMs ?? 25);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      const wallMs = performance.now() - t0;
      resolve({ code, killedFor, wallMs, peakRssBytes: peak, cpuS: childrenCpuS() - cpu0, stdout, stderr });
    });
  });
}
