/**
 * bench:strategies — every strategy on every chosen preset and link profile, measured in
 * one run side by side: step time, exposed communication, bytes on the wire per step,
 * peak memory per rank and final loss. Writes bench/results/strategies.json (one row per
 * preset × link × strategy) and prints a table with ratios to the DDP baseline of the
 * same preset and link.
 *
 * Usage: node out/bench/strategies.js [--presets tiny,gpt-mini] [--links eth-10g,eth-10g@100,wan]
 *        [--strategies ddp,zero3,...] [--steps 6] [--rounds 2]
 * A link `name@f` is the named profile slowed f times (config.linkScale): this machine's
 * software GPU is orders of magnitude slower than a datacenter GPU, and slowing the link
 * by a factor keeps the compute-to-communication ratio of a cluster that much faster.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { PRESETS, validateConfig, type RunConfig } from '../runtime/config';
import { runTraining, RunHandle, type RunOutcome } from '../runtime/coordinator';
import { LINK_PROFILE_NAMES } from '../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../runtime/strategies';
import { estimateParamCount } from '../runtime/strategies/options';
import type { TraceModel } from '../trace/model';
import { mean, median } from '../trace/stats';

interface Row {
  preset: string;
  link: string;
  strategy: string;
  step_ms: number;
  exposed_comm_ms: number;
  bytes_per_step: number;
  peak_mem_bytes_per_rank: number;
  /** Parameters + gradients + optimizer state (what ZeRO shards), peak per rank. */
  model_state_bytes_per_rank: number;
  final_loss: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

type Interval = [number, number];

function union(xs: Interval[]): Interval[] {
  const s = xs.filter(([a, b]) => b > a).sort((p, q) => p[0] - q[0]);
  const out: Interval[] = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Length of `a` not covered by `b` (both unions). */
function uncovered(a: Interval[], b: Interval[]): number {
  let total = 0;
  for (const [s, e] of a) {
    let covered = 0;
    for (const [bs, be] of b) covered += Math.max(0, Math.min(e, be) - Math.max(s, bs));
    total += e - s - covered;
  }
  return total;
}

/**
 * Exposed communication of one rank's step: time inside the step when communication
 * (collectives, their staging copies, waits on peers) runs and no compute kernel does
 * (HTA's definition of non-overlapped communication), in ns. Median over steps after the
 * first, mean over ranks.
 */
function exposedCommNs(model: TraceModel): number {
  const perRank: number[] = [];
  for (const p of model.processes) {
    const tracks = model.tracks.filter((t) => t.pid === p.pid);
    const idOf = (stream: string): number[] => tracks.filter((t) => t.stream === stream).map((t) => t.id);
    const host = new Set(idOf('host'));
    const comm = new Set([...idOf('communication'), ...idOf('staging'), ...idOf('wait')]);
    const compute = new Set(idOf('compute'));
    const steps = model.slices
      .filter((s) => host.has(s.track) && s.category === 'step')
      .sort((a, b) => a.startNs - b.startNs);
    const values: number[] = [];
    for (const st of steps.slice(1)) {
      const lo = st.startNs;
      const hi = st.startNs + st.durNs;
      const clip = (s: { startNs: number; durNs: number }): Interval => [
        Math.max(lo, s.startNs),
        Math.min(hi, s.startNs + s.durNs),
      ];
      const c = union(model.slices.filter((s) => comm.has(s.track)).map(clip));
      const k = union(model.slices.filter((s) => compute.has(s.track) && s.category === 'kernel').map(clip));
      values.push(uncovered(c, k));
    }
    perRank.push(median(values));
  }
  return mean(perRank);
}

/** Options that make each strategy meaningful on a preset (e.g. several buckets on a small model). */
function optionsFor(strategy: string, base: RunConfig, steps: number): Record<string, unknown> | undefined {
  const modelMb = (estimateParamCount(base.model) * 4) / (1024 * 1024);
  const buckets = {
    bucketCapMb: Number((modelMb / 4).toPrecision(3)),
    firstBucketCapMb: Number((modelMb / 16).toPrecision(3)),
  };
  switch (strategy) {
    case 'ddp-bucketed':
    case 'zero2':
      return modelMb / 4 < 25 ? buckets : undefined;
    case 'topk-dgc':
      return { density: 0.01, dgcWarmupSteps: 1 };
    case 'powersgd':
      return { powerSgdRank: 2 };
    case 'onebit-adam':
      // The variance freezes after the warm-up: one step of it is too noisy to freeze.
      return { onebitWarmupSteps: Math.max(2, Math.floor(steps / 3)) };
    case 'localsgd':
    case 'diloco':
      return { localSteps: Math.min(4, steps) };
    case 'streaming-diloco':
      return { localSteps: Math.min(4, steps), fragments: 2, overlapSteps: 1 };
    default:
      return undefined;
  }
}

function rowOf(preset: string, link: string, strategy: string, o: RunOutcome): Row {
  const steps = [...o.steps].sort((a, b) => a.step - b.step);
  const later = steps.length > 1 ? steps.slice(1) : steps;
  let peak = 0;
  let states = 0;
  for (const s of steps) {
    for (const r of s.perRank) {
      const m = r.memory;
      states = Math.max(states, m.parameters + m.gradients + m.optimizerState);
      peak = Math.max(peak, m.parameters + m.gradients + m.optimizerState + m.activations + m.communication);
    }
  }
  return {
    preset,
    link,
    strategy,
    step_ms: median(later.map((s) => s.stepTimeNs)) / 1e6,
    exposed_comm_ms: exposedCommNs(o.trace.model) / 1e6,
    // Mean, not median: local updates send everything on one step in H.
    bytes_per_step: mean(steps.map((s) => mean(s.perRank.map((r) => r.wireBytes)))),
    peak_mem_bytes_per_rank: peak,
    model_state_bytes_per_rank: states,
    final_loss: steps[steps.length - 1]?.meanLoss ?? NaN,
  };
}

function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function printTable(rows: Row[]): void {
  const ddp = rows.find((r) => r.strategy === 'ddp');
  console.log(`\n${rows[0].preset} on ${rows[0].link}`);
  console.log(
    [
      'strategy'.padEnd(22),
      'step ms',
      '×ddp',
      'exposed ms',
      'bytes/step',
      '×less',
      'peak mem MiB',
      '×ddp',
      'states MiB',
      '×ddp',
      'final loss',
    ].join('  '),
  );
  for (const r of rows) {
    console.log(
      [
        r.strategy.padEnd(22),
        fmt(r.step_ms).padStart(7),
        (ddp ? fmt(r.step_ms / ddp.step_ms, 2) : '-').padStart(4),
        fmt(r.exposed_comm_ms).padStart(10),
        String(Math.round(r.bytes_per_step)).padStart(10),
        (ddp && r.bytes_per_step > 0 ? fmt(ddp.bytes_per_step / r.bytes_per_step, 1) : '-').padStart(5),
        fmt(r.peak_mem_bytes_per_rank / 2 ** 20, 2).padStart(12),
        (ddp ? fmt(r.peak_mem_bytes_per_rank / ddp.peak_mem_bytes_per_rank, 2) : '-').padStart(4),
        fmt(r.model_state_bytes_per_rank / 2 ** 20, 2).padStart(10),
        (ddp ? fmt(r.model_state_bytes_per_rank / ddp.model_state_bytes_per_rank, 2) : '-').padStart(4),
        fmt(r.final_loss, 4).padStart(10),
      ].join('  '),
    );
  }
}

/**
 * The shapes the methods promise, read off one preset's rows (all links): printed as
 * measured, not asserted, because timings on a shared machine are noisy.
 */
function printShapes(rows: Row[]): void {
  const by = (link: string, strategy: string): Row | undefined =>
    rows.find((r) => r.link === link && r.strategy === strategy);
  const links = [...new Set(rows.map((r) => r.link))];
  console.log(`\nshapes for ${rows[0].preset}:`);
  for (const link of links) {
    const ddp = by(link, 'ddp');
    if (!ddp) continue;
    const best = (ids: string[]): Row | undefined =>
      ids
        .map((id) => by(link, id))
        .filter((r): r is Row => !!r)
        .sort((a, b) => a.step_ms - b.step_ms)[0];
    const comp = best(['fp16', 'bf16', 'int8-ef', 'topk-dgc', 'powersgd', 'onebit-adam']);
    const local = best(['localsgd', 'diloco', 'streaming-diloco']);
    const bucketed = by(link, 'ddp-bucketed');
    const zero3 = by(link, 'zero3');
    const parts = [
      `${link}: DDP ${fmt(ddp.step_ms)} ms/step, ${fmt((100 * ddp.exposed_comm_ms) / ddp.step_ms, 0)}% exposed communication`,
    ];
    if (comp) parts.push(`best compression ${comp.strategy} ${fmt(comp.step_ms / ddp.step_ms, 2)}× DDP's step`);
    if (local) parts.push(`best local update ${local.strategy} ${fmt(local.step_ms / ddp.step_ms, 2)}×`);
    if (bucketed)
      parts.push(`bucketing exposes ${fmt(bucketed.exposed_comm_ms, 0)} of DDP's ${fmt(ddp.exposed_comm_ms, 0)} ms`);
    if (zero3)
      parts.push(
        `ZeRO-3 ${fmt(zero3.step_ms / ddp.step_ms, 2)}× step, ${fmt(zero3.peak_mem_bytes_per_rank / ddp.peak_mem_bytes_per_rank, 2)}× peak memory, ${fmt(zero3.model_state_bytes_per_rank / ddp.model_state_bytes_per_rank, 2)}× model states`,
      );
    console.log(`  ${parts.join('; ')}`);
  }
}

async function main(): Promise<void> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const presets = arg('presets', 'tiny,gpt-mini').split(',');
  const links = arg('links', 'eth-10g,eth-10g@100,wan').split(',');
  const steps = Number(arg('steps', '6'));
  const rounds = Number(arg('rounds', '2'));
  const wanted = arg('strategies', STRATEGY_IDS.join(',')).split(',');
  const rows: Row[] = [];
  const work = mkdtempSync(join(tmpdir(), 'commlens-bench-strategies-'));
  try {
    for (const preset of presets) {
      const base = PRESETS[preset];
      if (!base) throw new Error(`--presets: unknown preset '${preset}'; known: ${Object.keys(PRESETS).join(', ')}`);
      for (const link of links) {
        // Rounds in alternating order; each strategy keeps its fastest round, which is the
        // one least disturbed by other load on a shared machine.
        const best = new Map<string, Row>();
        for (let round = 0; round < rounds; round++) {
          const order = round % 2 === 0 ? wanted : [...wanted].reverse();
          for (const strategy of order) {
            const options = optionsFor(strategy, base, steps);
            const [linkName, scale] = link.split('@');
            const raw = {
              ...base,
              link: linkName,
              ...(scale ? { linkScale: Number(scale) } : {}),
              strategy,
              steps,
              gpuTiming: true,
              ...(options ? { strategyOptions: options } : {}),
            };
            const refused = validateStrategyConfig(raw as RunConfig);
            if (refused.length) {
              if (round === 0) console.log(`${preset}/${link}/${strategy}: skipped (${refused[0]})`);
              continue;
            }
            const config = validateConfig(raw, [...LINK_PROFILE_NAMES], STRATEGY_IDS, validateStrategyConfig);
            const dir = join(work, `${preset}-${link}-${strategy}-${round}`);
            const outcome = await runTraining(config, dir, { bench: 'strategies' }, {}, new RunHandle());
            rmSync(dir, { recursive: true, force: true });
            if (outcome.failure) {
              console.log(`${preset}/${link}/${strategy}: failed: ${outcome.failure.message}`);
              continue;
            }
            const row = rowOf(preset, link, strategy, outcome);
            process.stderr.write(
              `  round ${round + 1}/${rounds} ${preset}/${link}/${strategy}: ${fmt(row.step_ms)} ms/step\n`,
            );
            const prev = best.get(strategy);
            if (!prev || row.step_ms < prev.step_ms) best.set(strategy, row);
          }
        }
        const group = wanted.map((s) => best.get(s)).filter((r): r is Row => !!r);
        rows.push(...group);
        if (group.length) printTable(group);
      }
      const presetRows = rows.filter((r) => r.preset === preset);
      if (presetRows.length) printShapes(presetRows);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const out = resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  // Groups (preset × link) measured by an earlier invocation stay, unless measured again now.
  const file = join(out, 'strategies.json');
  let kept: Row[] = [];
  try {
    const old = JSON.parse(readFileSync(file, 'utf8')) as Row[];
    const fresh = new Set(rows.map((r) => `${r.preset}/${r.link}`));
    kept = Array.isArray(old) ? old.filter((r) => !fresh.has(`${r.preset}/${r.link}`)) : [];
  } catch {
    // no earlier results
  }
  writeFileSync(file, JSON.stringify([...kept, ...rows], null, 2) + '\n');
  console.log(`\nwrote ${file} (${rows.length} rows measured now, ${kept.length} kept from earlier runs)`);
}

main().catch((e: unknown) => {
  console.error((e as Error).message ?? e);
  process.exit(1);
});
