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
import { median } from '../trace/stats';

export interface TracingOverhead {
  preset: string;
  pairs: number;
  stepsPerRun: number;
  medianOnMs: number;
  medianOffMs: number;
  /** Tracing on but without GPU timestamps (host, collective and staging spans only). */
  medianHostOnlyMs: number;
  ratio: number;
  hostOnlyRatio: number;
}

/** Alternates traced and untraced runs of `preset`; warm-up steps are left out. */
export async function measureTracingOverhead(
  opts: { preset?: string; pairs?: number; steps?: number; warmupSteps?: number } = {},
): Promise<TracingOverhead> {
  const preset = opts.preset ?? DEFAULT_PRESET;
  const pairs = opts.pairs ?? 3;
  const steps = opts.steps ?? 10;
  const warmup = opts.warmupSteps ?? 2;
  const config: RunConfig = { ...PRESETS[preset], steps };
  const dir = mkdtempSync(join(tmpdir(), 'commlens-overhead-'));
  const times: Record<'on' | 'off' | 'host', number[]> = { on: [], off: [], host: [] };
  // on, off, host, host, off, on, ... (ABCCBA) so a drift in machine load hits each mode alike.
  const order: ('on' | 'off' | 'host')[] = ['on', 'off', 'host', 'host', 'off', 'on'];
  try {
    for (let i = 0; i < pairs * 3; i++) {
      const mode = order[i % order.length];
      const cfg = mode === 'host' ? { ...config, gpuTiming: false } : config;
      const o = await runTraining(cfg, join(dir, `run${i}`), {}, {}, new RunHandle(), { tracing: mode !== 'off' });
      if (o.failure) throw new Error(`overhead run ${i} failed: ${o.failure.message}`);
      times[mode].push(...o.steps.filter((s) => s.step >= warmup).map((s) => s.stepTimeNs / 1e6));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const medianOnMs = median(times.on);
  const medianOffMs = median(times.off);
  const medianHostOnlyMs = median(times.host);
  return {
    preset,
    pairs,
    stepsPerRun: steps,
    medianOnMs,
    medianOffMs,
    medianHostOnlyMs,
    ratio: medianOnMs / medianOffMs,
    hostOnlyRatio: medianHostOnlyMs / medianOffMs,
  };
}

if (require.main === module) {
  void measureTracingOverhead().then((r) => {
    console.log(
      `tracing overhead, preset ${r.preset}, ${r.pairs} rounds of on/off/host-only runs of ${r.stepsPerRun} steps`,
    );
    console.log(
      `median step: off ${r.medianOffMs.toFixed(2)} ms, host spans only ${r.medianHostOnlyMs.toFixed(2)} ms (x${r.hostOnlyRatio.toFixed(3)}), full tracing ${r.medianOnMs.toFixed(2)} ms (x${r.ratio.toFixed(3)}, target <= 1.02)`,
    );
  });
}
