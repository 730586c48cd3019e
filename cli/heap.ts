/**
 * The heap of the commands that hold a whole job's analysis in one process (`analyze`,
 * `compare`). Node gives a process about 4 GiB of heap whatever the machine has; a job of
 * many ranks held near that limit spends most of its time in garbage collection (the 64 ×
 * 100 MB job of bench:scale: 189 s from its cached ranks at the default limit, 42 s with
 * 12 GB) and past it Node aborts. For big inputs these commands run again in a child Node
 * with a heap sized from the machine's memory (HEAP_SHARE of it), unless the user set one
 * (`--max-old-space-size` in NODE_OPTIONS or the node command line) or this is already that
 * child. `analyze` of a Kineto job asks for the child only when its ranks must be held whole
 * (cli/commands/analyze.ts): ranks digested in the scan workers leave a few steps each on this
 * thread (8 × 500 MB: under 40 MB of heap; 1,024 × 10 MB: analysed at the default heap), and
 * a second Node was a second start and 53–58 MB more of the job's peak.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { totalmem } from 'node:os';
import * as path from 'node:path';
import { getHeapStatistics } from 'node:v8';

/** Commands that may hold a whole job. */
export const HEAP_COMMANDS: readonly string[] = ['analyze', 'compare'];
/** Inputs below this many bytes of JSON (gzip counted at GZIP_RATIO) run as they are. */
export const BIG_INPUT_BYTES = 512 * 2 ** 20;
/** A gzip trace's JSON per byte on disk, roughly (the tiled HTA traces: 12.5; real ones 8–15). */
const GZIP_RATIO = 10;
/** The share of the machine's memory the child's heap may take. */
export const HEAP_SHARE = 0.6;
/** Set in the child, so that it does not start another. */
export const HEAP_ENV = 'COMMLENS_HEAP_SET';

/** Bytes of JSON the positional arguments hold (files, and the files in folders one level down), roughly. */
export function inputJsonBytes(args: readonly string[]): number {
  let total = 0;
  const add = (file: string, st: fs.Stats) => {
    if (st.isFile()) total += /\.gz$/i.test(file) ? st.size * GZIP_RATIO : st.size;
  };
  for (const a of args) {
    if (a.startsWith('-')) continue;
    let st: fs.Stats;
    try {
      st = fs.statSync(a);
    } catch {
      continue; // an option's value, or a path the command will name
    }
    if (st.isDirectory()) {
      for (const d of [a, path.join(a, 'kineto')])
        try {
          for (const name of fs.readdirSync(d)) {
            const f = path.join(d, name);
            add(f, fs.statSync(f));
          }
        } catch {
          // not there
        }
    } else add(a, st);
  }
  return total;
}

/**
 * The heap (MiB) to run `command` with, or undefined to run it here: only for HEAP_COMMANDS on
 * inputs of BIG_INPUT_BYTES or more, when no heap was chosen by the user or a parent, and when
 * the machine allows at least a quarter more than this process has.
 */
export function heapToRunWith(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): number | undefined {
  if (!HEAP_COMMANDS.includes(command) || env[HEAP_ENV]) return undefined;
  if (/--max-old-space-size/.test(env.NODE_OPTIONS ?? '') || execArgv.some((a) => a.startsWith('--max-old-space-size')))
    return undefined;
  const have = getHeapStatistics().heap_size_limit / 2 ** 20;
  const want = Math.floor((totalmem() / 2 ** 20) * HEAP_SHARE);
  if (want < have * 1.25) return undefined;
  return inputJsonBytes(args) >= BIG_INPUT_BYTES ? want : undefined;
}

/** Thrown by a command run here first (Command.runUntilLoad) when it is about to load inputs that want the bigger heap. */
export class HeapWanted extends Error {
  constructor(readonly heapMb: number) {
    super(`this command wants a heap of ${heapMb} MiB`);
  }
}

/**
 * The child's Node options: this process's, `heapMb` of heap, and V8's memory reducer off
 * unless they name it. The reducer collects again to give memory back when a heap looks idle,
 * which a batch of ranks read one after another never is for long: on the 64 × 100 MB job of
 * bench:scale it cost 3–7 % of the wall time and as much CPU, with the same peak (four
 * rounds side by side, docs/benchmarks.md).
 */
export function childExecArgv(execArgv: readonly string[], heapMb: number): string[] {
  const reducer = execArgv.some((a) => /^--(no-)?memory[-_]reducer$/.test(a));
  return [...execArgv, ...(reducer ? [] : ['--no-memory-reducer']), `--max-old-space-size=${heapMb}`];
}

/** Runs the CLI again in a child Node with `heapMb` of heap, its output straight through; resolves with its exit code. */
export function runWithHeap(heapMb: number, cliPath: string, argv: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...childExecArgv(process.execArgv, heapMb), cliPath, ...argv], {
      stdio: 'inherit',
      env: { ...process.env, [HEAP_ENV]: String(heapMb) },
    });
    const pass = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = pass('SIGINT'),
      onTerm = pass('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const done = (code: number) => {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
      resolve(code);
    };
    child.on('error', (e) => {
      process.stderr.write(`commlens: cannot start node with a larger heap (${e.message}); running as is\n`);
      done(-1);
    });
    child.on('close', (code, signal) => done(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1)));
  });
}
