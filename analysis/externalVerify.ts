/**
 * Verification of a suggestion on a PyTorch job run by CommLens (an external command whose
 * script imports commlens_torch): the job is re-launched with COMMLENS_APPLY set to the
 * suggestion's `torchApply` (by the CLI's `verify`, or the extension's "Apply & re-run"),
 * and this module reads the two runs' traces and compares them with the same arithmetic as
 * every verification (analysis/verify.ts `judge`, the steady-state figures of
 * analysis/runFigures.ts), and checks that the re-run's traces show the change.
 */
import { discoverTraces } from '../trace/discover';
import { loadRun } from '../trace/load';
import type { LoadOptions } from '../trace/budget';
import { TORCH_HOOKS, type TorchApply } from '../trace/torchJob';
import { analyze } from './index';
import type { Analysis } from './types';
import type { Suggestion } from './advisor/advisor';
import { describeTorchJob } from './torchJob';
import {
  COMPARISON_SCHEMA_VERSION,
  judge,
  measuredOfAnalysis,
  measuredSpeedupInterval,
  type AppliedCheck,
  type Comparison,
  type StepSamples,
} from './verify';

/** Discovers, loads and analyses the traces of one job run (a folder of per-rank traces, or the files). */
export async function analyseJob(
  inputs: string[],
  opts: LoadOptions = {},
): Promise<{ analysis: Analysis; files: string[] }> {
  const found = discoverTraces(inputs);
  const model = await loadRun(found.chosen, opts);
  return { analysis: analyze(model), files: found.chosen.files.map((f) => f.path) };
}

/**
 * Whether the re-run's traces show the change: commlens_torch records what it applied to each
 * DistributedDataParallel (trace/torchJob.ts); every one must have the asked bucket cap and hook.
 */
export function checkApplied(asked: TorchApply, rerun: Analysis): AppliedCheck {
  const job = rerun.source.pytorchJob;
  if (!job)
    return {
      asked,
      ok: false,
      message:
        "the re-run's traces carry no commlens_torch record: was the job's commlens_torch older than this CommLens, or did the script write its traces itself?",
    };
  const ddps = job.ddp ?? [];
  const problems: string[] = [];
  if (ddps.length === 0) problems.push('no DistributedDataParallel was recorded');
  ddps.forEach((d, i) => {
    if (asked.bucket_cap_mb !== undefined && d.bucket_cap_mb !== asked.bucket_cap_mb)
      problems.push(`DDP #${i + 1} has bucket_cap_mb ${d.bucket_cap_mb ?? 'unknown'}, not ${asked.bucket_cap_mb}`);
    if (asked.comm_hook !== undefined && d.comm_hook !== TORCH_HOOKS[asked.comm_hook])
      problems.push(`DDP #${i + 1} has comm hook ${d.comm_hook ?? 'none'}, not ${TORCH_HOOKS[asked.comm_hook]}`);
  });
  return {
    asked,
    ok: problems.length === 0,
    message: problems.length === 0 ? describeTorchJob(job) : `${problems.join('; ')} (${describeTorchJob(job)})`,
  };
}

/** Predicted against measured for a suggestion verified on a PyTorch job (comparison.json). */
export function externalComparison(
  s: Pick<Suggestion, 'id' | 'title' | 'configChange' | 'predicted'> & { torchApply: TorchApply },
  base: { runDir: string; runId: string; analysis: Analysis },
  rerun: { runDir: string; runId: string; analysis: Analysis },
): Comparison {
  const baseline = measuredOfAnalysis(base.analysis);
  const measured = measuredOfAnalysis(rerun.analysis);
  return {
    schemaVersion: COMPARISON_SCHEMA_VERSION,
    suggestion: { id: s.id, title: s.title, configChange: s.configChange, torchApply: s.torchApply },
    baselineRun: { runDir: base.runDir, runId: base.runId },
    verifyRun: { runDir: rerun.runDir, runId: rerun.runId },
    predicted: s.predicted,
    baseline,
    measured,
    // The measured speed-up's interval over the two jobs' steady-state steps, as for CommLens runs.
    ...judge(
      s.predicted,
      baseline,
      measured,
      measuredSpeedupInterval([steadySamplesOf(base.analysis)], [steadySamplesOf(rerun.analysis)]).interval,
    ),
    applied: checkApplied(s.torchApply, rerun.analysis),
  };
}

/** A job's steady-state step times (analysis.figures), as verify's interval reads them. */
function steadySamplesOf(a: Analysis): StepSamples {
  const steady = new Set(a.figures.steadySteps);
  return { steadyStepTimesNs: a.figures.stepTimesNs.filter((s) => steady.has(s.step)).map((s) => s.timeNs) };
}
