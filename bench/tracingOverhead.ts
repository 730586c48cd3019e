/**
 * Tracing overhead: the default preset trained with tracing on (GPU timestamps, every
 * span recorded and streamed to a Perfetto file) and off (nothing recorded), in one
 * process, alternating on/off runs so that machine noise hits both alike. Reports the
 * ratio of median step times (on / off) over the steps after warm-up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, DEFAULT_PRESET, type RunConfig } from '../runtime/config';
import { runTraining, RunHandle } from '../runtime/coordinator';

export interface TracingOverhead {
  preset: string;
  pairs: number;
  stepsPerRun: number;
  medianOnMs: number;
  medianOffMs: number;
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Alternates traced and untraced runs of `preset`; warm-up steps are left out. */
export async function measureTracingOverhead(opts: { preset?: string; pairs?: number; steps?: number; warmupSteps?: number } = {}): Promise<TracingOverhead> {
  const preset = opts.preset ?? DEFAULT_PRESET;
  const pairs = opts.pairs ?? 3;
  const steps = opts.steps ?? 10;
  const warmup = opts.warmupSteps ?? 2;
  const config: RunConfig = { ...PRESETS[preset], steps };
  const dir = mkdtempSync(join(tmpdir(), 'commlens-overhead-'));
  const on: number[] = [];
  const off: number[] = [];
  try {
    for (let i = 0; i < pairs * 2; i++) {
      // on, off, off, on, on, off ... (ABBA) so a drift in machine load cancels out.
      const tracing = [true, false, false, true][i % 4];
      const o = await runTraining(config, join(dir, `run${i}`), {}, {}, new RunHandle(), { tracing });
      if (o.failure) throw new Error(`overhead run ${i} failed: ${o.failure.message}`);
      const times = o.steps.filter((s) => s.step >= warmup).map((s) => s.stepTimeNs / 1e6);
      (tracing ? on : off).push(...times);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const medianOnMs = median(on);
  const medianOffMs = median(off);
  return { preset, pairs, stepsPerRun: steps, medianOnMs, medianOffMs, ratio: medianOnMs / medianOffMs };
}

if (require.main === module) {
  void measureTracingOverhead().then((r) => {
    console.log(`tracing overhead, preset ${r.preset}, ${r.pairs} on/off pairs of ${r.stepsPerRun} steps`);
    console.log(`median step on ${r.medianOnMs.toFixed(2)} ms, off ${r.medianOffMs.toFixed(2)} ms, ratio ${r.ratio.toFixed(3)} (target <= 1.02)`);
  });
}
