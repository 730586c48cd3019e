/**
 * `commlens compare A B [--json] [--top N] [--rank R]`: what changed between two jobs (CommLens
 * run folders, trace files, or folders of per-rank traces), per step, per collective and per
 * op/kernel name. The comparison itself is analysis/compare.ts (the extension's Compare Runs
 * uses it too); this file finds, loads and analyses the two jobs and prints.
 * Exit codes: 0 compared, 2 bad input (a missing path, a folder without traces, jobs of
 * different world sizes, a rank neither has).
 */
import { describeRun, discoverTraces, type TraceDiscovery, type TraceRun } from '../../trace/discover';
import { loadRun } from '../../trace/load';
import { analyze } from '../../analysis/index';
import { compareJobs, compareText, CompareError, type CompareInput, type Comparison } from '../../analysis/compare';
import { EXIT } from '../protocol';
import { Output, type Io } from '../output';
import { parseArgs, flag, num, str, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';

export const COMPARE_USAGE = `usage: commlens compare A B [--json] [--top N] [--rank R] [--run-a ID] [--run-b ID] [--include-last-step]
       commlens compare FOLDER        (a folder holding two or more runs: the newest against the one before)

  What changed from job A (the baseline) to job B. A job is a CommLens run folder, a trace
  file, or a folder of per-rank PyTorch profiler traces (as 'analyze' finds them).
  Prints what A and B are, step time A → B with its direction (faster / slower), exposed
  communication, bytes per step and peak memory (docs/figures.md), then:
  - steps: the steady-state steps (warm-up left out), paired by step number, or in order
    when the jobs share no step numbers;
  - collectives per step, by kind: count, bytes, total and median time, bus bandwidth;
    single collectives paired by kind, process group, size and order within the step;
  - ops and kernels on one rank: count and total time per name over the paired steps
    (what Holistic Trace Analysis' trace diff gives), sorted by |Δ time|; what appeared
    and what disappeared.
  --json               the comparison as JSON (schemas/compare.schema.json, with schemaVersion)
  --top N              rows of the per-name table and of the changed collectives (default 15)
  --rank R             the rank of the per-name table and of collective times (default: the
                       lowest rank of both for the table; collective times are the mean over
                       the ranks taking part)
  --run-a ID, --run-b ID  the run of A's or B's folder when it holds several ('inspect' lists them)
  --include-last-step  analyse the last ProfilerStep too (left out by default, as HTA does)
  --max-trace-bytes N  memory the traces may take to open (default 2G; docs/limits.md)
`;

const OPTIONS: OptionSpecs = {
  json: { kind: 'flag' },
  top: { kind: 'int', min: 1 },
  rank: { kind: 'int', min: 0 },
  'run-a': { kind: 'string' },
  'run-b': { kind: 'string' },
  'include-last-step': { kind: 'flag' },
};

/** True when two runs found by discovery are the same files (the job is then loaded once). */
function sameFiles(a: TraceRun, b: TraceRun): boolean {
  return a.files.length === b.files.length && a.files.every((f, i) => f.path === b.files[i].path);
}

/** Loads and analyses one run found by discovery. */
async function job(label: string, run: TraceRun, includeLastStep: boolean): Promise<CompareInput> {
  const model = await loadRun(run);
  return { label, model, analysis: analyze(model, { includeLastStep }) };
}

export async function compareCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('compare', { io });
  let inputs: string[], json: boolean, includeLastStep: boolean;
  let top: number, rank: number | undefined, runA: string | undefined, runB: string | undefined;
  try {
    const p = parseArgs(args, OPTIONS);
    inputs = p.positional;
    json = flag(p, 'json');
    includeLastStep = flag(p, 'include-last-step');
    top = num(p, 'top') ?? 15;
    rank = num(p, 'rank');
    runA = str(p, 'run-a');
    runB = str(p, 'run-b');
    if (inputs.length < 1 || inputs.length > 2)
      throw new UsageError(
        `expected two jobs, A and B (or one folder holding two runs); got ${inputs.length === 0 ? 'none' : inputs.length}`,
      );
  } catch (e) {
    if (e instanceof UsageError)
      return out.fail(e.showUsage ? `${e.message}\n\n${COMPARE_USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  let runs: { label: string; run: TraceRun }[];
  const notes: string[] = [];
  try {
    if (inputs.length === 1) {
      const found: TraceDiscovery = discoverTraces(inputs);
      if (found.runs.length < 2 && runA === undefined && runB === undefined)
        return out.fail(
          `${inputs[0]}: holds one run (${describeRun(found.chosen)}); give two jobs to compare: commlens compare A B`,
          EXIT.badInput,
        );
      const pick = (id: string | undefined, fallback: TraceRun): TraceRun => {
        if (id === undefined) return fallback;
        const r = found.runs.find((x) => x.id === id);
        if (!r)
          throw new CompareError(
            `${inputs[0]}: no run '${id}'; its runs are ${found.runs.map((x) => x.id).join(', ')} ('commlens inspect ${inputs[0]}' lists them)`,
          );
        return r;
      };
      const n = found.runs.length;
      const a = pick(runA, found.runs[Math.max(0, n - 2)]);
      const b = pick(runB, found.runs[n - 1]);
      runs = [
        { label: `${inputs[0]} run ${a.id}`, run: a },
        { label: `${inputs[0]} run ${b.id}`, run: b },
      ];
    } else {
      runs = inputs.map((input, i) => {
        const found = discoverTraces([input], { run: i === 0 ? runA : runB });
        // A folder with several runs: say which one is compared and how to pick another.
        if (found.runs.length > 1)
          notes.push(
            `${i === 0 ? 'A' : 'B'}: ${input} holds ${found.runs.length} runs; comparing run ${found.chosen.id}${(i === 0 ? runA : runB) === undefined ? ' (the newest complete one)' : ''}; pick another with ${i === 0 ? '--run-a' : '--run-b'} ID`,
          );
        return {
          label: found.runs.length > 1 ? `${input} run ${found.chosen.id}` : input,
          run: found.chosen,
        };
      });
    }
  } catch (e) {
    return out.fail((e as Error).message, EXIT.badInput);
  }
  let a: CompareInput, b: CompareInput;
  try {
    a = await job(runs[0].label, runs[0].run, includeLastStep);
    b = sameFiles(runs[0].run, runs[1].run)
      ? { ...a, label: runs[1].label }
      : await job(runs[1].label, runs[1].run, includeLastStep);
  } catch (e) {
    return out.fail((e as Error).message, EXIT.badInput);
  }
  let c: Comparison;
  try {
    c = compareJobs(a, b, { rank, top });
  } catch (e) {
    if (e instanceof CompareError) return out.fail(e.message, EXIT.badInput);
    throw e;
  }
  for (const n of notes) out.warn(n, 'info');
  if (json) out.json(c);
  else out.write(compareText(c));
  return EXIT.ok;
}

export const compare: Command = {
  name: 'compare',
  synopsis: 'compare A B [--json] [--top N] [--rank R]',
  summary: 'what changed between two runs or traces: steps, collectives, ops',
  usage: COMPARE_USAGE,
  run: compareCommand,
};
