/**
 * Runs a command under a time and memory limit and measures its whole process tree: wall
 * time and peak resident memory, summed over the process and all its descendants, sampled
 * from /proc every `sampleMs` (threads' children included, through /proc/PID/task/TID/children).
 * The tree is killed (SIGKILL to each process found) when it passes either limit.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface TreeRun {
  code: number | null;
  /** 'time' or 'memory' when the run was stopped at a limit. */
  killedFor?: 'time' | 'memory';
  wallMs: number;
  peakRssBytes: number;
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

function treeRss(pid: number): { rss: number; pids: number[] } {
  const pids: number[] = [];
  descendants(pid, pids);
  let rss = 0;
  for (const p of pids) {
    try {
      rss += Number(readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]) * PAGE;
    } catch {
      /* the process ended between listing and reading */
    }
  }
  return { rss, pids };
}

export function runTree(
  cmd: string,
  args: string[],
  limits: { timeMs: number; rssBytes: number; sampleMs?: number },
  env?: NodeJS.ProcessEnv,
): Promise<TreeRun> {
  return new Promise((resolve, reject) => {
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
      const { rss } = treeRss(child.pid);
      peak = Math.max(peak, rss);
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
      resolve({ code, killedFor, wallMs: performance.now() - t0, peakRssBytes: peak, stdout, stderr });
    });
  });
}
