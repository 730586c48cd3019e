/**
 * `npm run bench:kernels`: matmul GFLOP/s per variant at 256…2048 beside two baselines
 * measured in the same run (a tfjs-backend-webgpu-style workgroup-memory tiled kernel and
 * a single-thread JavaScript loop), then step times of both models at two sizes with the
 * share of each op class. Kernel times are GPU timestamps; variants are interleaved
 * round by round so a busy machine slows all of them alike (ratios stay meaningful).
 *
 * Options: --sizes 256,512,1024,2048  --rounds N  --quick (smaller sizes, fewer steps)
 *          --peak-gflops G (the adapter's peak, for MFU; default: the best matmul measured)
 * Headline figures go to bench/results/kernels.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { requestAdapter, requestDevice, summarizeAdapter } from '../runtime/gpu/dawn';
import { GpuContext } from '../runtime/engine/context';
import { encodeMatmul } from '../runtime/engine/ops/matmul';
import { MATMUL_VARIANTS, MatmulVariant } from '../runtime/engine/ops/matmulKernels';
import { chooseMatmulVariant } from '../runtime/engine/ops/matmulSelect';
import { castToF16 } from '../runtime/engine/ops/cast';
import { Tensor } from '../runtime/engine/tensor';
import { achievedFlopsPerSec, createTrainer, ModelConfig } from '../runtime/engine';
import { Rng } from '../runtime/engine/random';
import { hostNowNs } from '../runtime/clock';
import { opClass } from '../runtime/engine/opClass';
import { median } from '../trace/stats';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const quick = process.argv.includes('--quick');
const sizes = (arg('sizes') ?? (quick ? '256,512,1024' : '256,512,1024,2048')).split(',').map(Number);

/** Single-thread JS reference: i-k-j loop over Float32Arrays (the cache-friendly order). */
function jsMatmulGflops(n: number, rng: Rng): number {
  const a = Float32Array.from({ length: n * n }, () => rng.normal());
  const b = Float32Array.from({ length: n * n }, () => rng.normal());
  const c = new Float32Array(n * n);
  const t0 = hostNowNs();
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const av = a[i * n + k];
      const bk = k * n;
      for (let j = 0; j < n; j++) c[ci + j] += av * b[bk + j];
    }
  }
  const ns = hostNowNs() - t0;
  if (!Number.isFinite(c[0])) throw new Error('js matmul produced a non-finite value');
  return (2 * n * n * n) / ns;
}

async function matmulTable(
  device: GPUDevice,
): Promise<{ rows: Record<string, number | string>[]; chosen: Map<number, string>; gflops: Map<string, number> }> {
  const ctx = new GpuContext(device, { timing: true });
  await ctx.spans!.calibrate(2);
  const rng = new Rng(1);
  const rows: Record<string, number | string>[] = [];
  const chosen = new Map<number, string>();
  const gflops = new Map<string, number>();
  const variants = MATMUL_VARIANTS;
  for (const n of sizes) {
    const bytes = n * n * 4;
    const [a, b, c] = [0, 1, 2].map(() => ctx.ownedBuffer(bytes));
    device.queue.writeBuffer(
      a.gpu,
      0,
      Float32Array.from({ length: n * n }, () => rng.normal()),
    );
    device.queue.writeBuffer(
      b.gpu,
      0,
      Float32Array.from({ length: n * n }, () => rng.normal()),
    );
    const shape = { M: n, N: n, K: n, transA: false, transB: false };
    const pick = chooseMatmulVariant(ctx, shape, 'f32');
    // f16 operands (shader-f16 adapters): the chosen variant reading half-precision A and B.
    const a16 = ctx.f16 ? castToF16(ctx, new Tensor([n * n], a, 0, false)) : undefined!;
    const b16 = ctx.f16 ? castToF16(ctx, new Tensor([n * n], b, 0, false)) : undefined!;
    chosen.set(n, pick.id);
    const call = (v: MatmulVariant) =>
      encodeMatmul(
        ctx,
        { ...shape, a: { buffer: a.gpu }, b: { buffer: b.gpu }, c: { buffer: c.gpu }, variant: v },
        `matmul ${n}x${n}x${n} ${v.id}`,
      );
    const flops = 2 * n * n * n;
    const budgetFlops = quick ? 2e9 : 8e9;
    const rounds = Number(
      arg('rounds') ?? Math.max(n >= 2048 ? 1 : 3, Math.min(9, Math.round(budgetFlops / flops / variants.length) | 1)),
    );
    // Warm-up: pipeline compilation (independent of n) and, up to n = 1024, one full-size run
    // of each variant, so that first-touch costs (fresh buffer and texture pages, the
    // driver's thread pool) stay out of the timed rounds, as they do in training's
    // steady state, where the same buffers are reused every step.
    const warmN = n <= 1024 ? n : 64;
    for (const v of variants)
      encodeMatmul(
        ctx,
        {
          M: warmN,
          N: warmN,
          K: warmN,
          transA: false,
          transB: false,
          a: { buffer: a.gpu },
          b: { buffer: b.gpu },
          c: { buffer: c.gpu },
          variant: v,
        },
        'warm-up',
      );
    if (ctx.f16)
      encodeMatmul(
        ctx,
        {
          M: 64,
          N: 64,
          K: 64,
          transA: false,
          transB: false,
          a: a16.binding(),
          b: b16.binding(),
          c: { buffer: c.gpu },
          variant: pick,
          dtype: 'f16',
        },
        'warm-up',
      );
    ctx.submit();
    await device.queue.onSubmittedWorkDone();
    await ctx.spans!.drain();
    const times = new Map<string, number[]>([
      ...variants.map((v): [string, number[]] => [v.id, []]),
      [`${pick.id}-f16`, []],
    ]);
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        call(v);
        ctx.submit();
      }
      if (ctx.f16) {
        encodeMatmul(
          ctx,
          { ...shape, a: a16.binding(), b: b16.binding(), c: { buffer: c.gpu }, variant: pick, dtype: 'f16' },
          `matmul ${n}x${n}x${n} ${pick.id}-f16`,
        );
        ctx.submit();
      }
      await device.queue.onSubmittedWorkDone();
      // A variant's time is the sum of its spans: the texture variant's operand packs count.
      const round = new Map<string, number>();
      for (const s of await ctx.spans!.drain()) {
        const id = s.name.split(' ').pop()!;
        round.set(id, (round.get(id) ?? 0) + s.endNs - s.startNs);
      }
      for (const [id, ns] of round) times.get(id)!.push(ns);
    }
    const row: Record<string, number | string> = { n };
    for (const [id, ts] of times) {
      if (ts.length === 0) continue;
      const g = flops / median(ts);
      row[id] = +g.toFixed(2);
      gflops.set(`${id}@${n}`, g);
    }
    if (n <= 1024) {
      const js = jsMatmulGflops(n, rng);
      row.js = +js.toFixed(3);
      gflops.set(`js@${n}`, js);
    } else row.js = 'skipped';
    row.chosen = pick.id;
    rows.push(row);
    for (const x of [a, b, c]) x.gpu.destroy();
    if (ctx.f16) [a16, b16].forEach((t) => ctx.release(t));
    process.stdout.write(`  measured n=${n} (${rounds} rounds)\n`);
  }
  ctx.destroy();
  return { rows, chosen, gflops };
}

interface StepRow {
  model: string;
  params: number;
  stepMs: number;
  kernelMs: number;
  gflopsPerSec: number;
  /** Achieved FLOP/s over the best matmul GFLOP/s measured above (a stand-in for peak). */
  mfuVsBestMatmul: number;
  poolHitRate: number;
  buffersCreatedAfterStep1: number;
  shares: Record<string, number>;
}

async function stepTable(device: GPUDevice, peakGflops: number): Promise<StepRow[]> {
  const models: [string, ModelConfig][] = [
    ['mlp small', { kind: 'mlp', inputDim: 64, hiddenDims: [256, 256], classes: 10, batchSize: 64 }],
    ['mlp large', { kind: 'mlp', inputDim: 256, hiddenDims: [1024, 1024], classes: 10, batchSize: 256 }],
    ['gpt-mini small', { kind: 'gpt-mini', layers: 2, heads: 2, dModel: 64, seqLen: 32, vocab: 16, batchSize: 8 }],
    ['gpt-mini large', { kind: 'gpt-mini', layers: 4, heads: 4, dModel: 128, seqLen: 64, vocab: 32, batchSize: 8 }],
  ];
  const out: StepRow[] = [];
  for (const [label, model] of models) {
    const tr = await createTrainer(device, {
      model,
      optimizer: { kind: 'adamw', lr: 1e-3 },
      seed: 1,
      rank: 0,
      worldSize: 1,
      timing: true,
    });
    const steps = quick ? 3 : 6;
    const wall: number[] = [];
    const byClass: Record<string, number> = {};
    let kernelNs = 0;
    let missesAfterStep1 = 0;
    for (let s = 0; s < steps + 1; s++) {
      if (s === 1) missesAfterStep1 = tr.poolStats().misses;
      const t0 = hostNowNs();
      tr.nextBatch(s);
      tr.forward();
      tr.backward();
      tr.optimizerStep();
      await tr.loss();
      const spans = await tr.drainSpans();
      if (s === 0) continue; // first step compiles pipelines and fills the pool
      wall.push(hostNowNs() - t0);
      for (const sp of spans) {
        const d = sp.endNs - sp.startNs;
        const k = opClass(sp.name);
        byClass[k] = (byClass[k] ?? 0) + d;
        kernelNs += d;
      }
    }
    const stepNs = median(wall);
    const shares: Record<string, number> = {};
    for (const [k, v] of Object.entries(byClass)) shares[k] = +((100 * v) / kernelNs).toFixed(1);
    const pool = tr.poolStats();
    const gflopsPerSec = achievedFlopsPerSec(tr.flopsPerStep, stepNs) / 1e9;
    out.push({
      model: label,
      params: tr.modelParamCount,
      stepMs: +(stepNs / 1e6).toFixed(2),
      kernelMs: +(kernelNs / steps / 1e6).toFixed(2),
      gflopsPerSec: +gflopsPerSec.toFixed(2),
      mfuVsBestMatmul: +(gflopsPerSec / peakGflops).toFixed(3),
      poolHitRate: +(pool.hits / (pool.hits + pool.misses)).toFixed(3),
      buffersCreatedAfterStep1: pool.misses - missesAfterStep1,
      shares,
    });
    process.stdout.write(`  measured ${label}\n`);
    tr.destroy();
  }
  return out;
}

async function main(): Promise<void> {
  const adapter = await requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter: run `commlens doctor`');
  const info = summarizeAdapter(adapter);
  const device = await requestDevice(adapter, { f16: true });
  process.stdout.write(
    `adapter: ${info.description || info.device || info.vendor} (${info.architecture}); variants: ${MATMUL_VARIANTS.map((v) => v.id).join(', ')}\n`,
  );
  const mm = await matmulTable(device);
  process.stdout.write(
    '\nmatmul GFLOP/s (square n×n×n, f32, GPU timestamps; tiled64 = the tfjs-style baseline; js = single-thread JS loop)\n',
  );
  console.table(mm.rows);
  const at = (k: string) => mm.gflops.get(k);
  const n0 = sizes.includes(1024) ? 1024 : sizes[sizes.length - 1];
  const ours = MATMUL_VARIANTS.filter((v) => v.id !== 'tiled64');
  const best = ours.reduce((b, v) => ((at(`${v.id}@${n0}`) ?? 0) > (at(`${b.id}@${n0}`) ?? 0) ? v : b));
  const chosenId = mm.chosen.get(n0)!;
  const results = {
    adapter: info.description || info.device || info.vendor,
    size: n0,
    best_variant_1024: best.id,
    best_gflops_1024: at(`${best.id}@${n0}`),
    chosen_variant_1024: chosenId,
    chosen_gflops_1024: at(`${chosenId}@${n0}`),
    tfjs_style_gflops_1024: at(`tiled64@${n0}`),
    js_gflops_1024: at(`js@${n0}`),
    best_over_tfjs_1024: (at(`${best.id}@${n0}`) ?? 0) / (at(`tiled64@${n0}`) ?? 1),
    chosen_over_tfjs_1024: (at(`${chosenId}@${n0}`) ?? 0) / (at(`tiled64@${n0}`) ?? 1),
    best_over_js_1024: (at(`${best.id}@${n0}`) ?? 0) / (at(`js@${n0}`) ?? 1),
    matmul: mm.rows,
    steps: [] as StepRow[],
  };
  process.stdout.write(
    `\nat n=${n0}: best ${best.id} ${results.best_gflops_1024?.toFixed(2)} GFLOP/s = ${results.best_over_tfjs_1024.toFixed(2)}× tfjs-style, ${results.best_over_js_1024.toFixed(1)}× JS; chosen ${chosenId}\n`,
  );
  process.stdout.write(
    '\nstep time per model (median of steps after the first; shares = % of kernel time by op class)\n',
  );
  const peak = Number(arg('peak-gflops') ?? results.best_gflops_1024 ?? 1);
  results.steps = await stepTable(device, peak);
  const classes = [...new Set(results.steps.flatMap((r) => Object.keys(r.shares)))];
  console.table(
    results.steps.map((r) => ({
      model: r.model,
      params: r.params,
      'step ms': r.stepMs,
      'kernel ms': r.kernelMs,
      'GFLOP/s': r.gflopsPerSec,
      'MFU*': r.mfuVsBestMatmul,
      'pool hits': r.poolHitRate,
      'new bufs after step 1': r.buffersCreatedAfterStep1,
    })),
  );
  console.table(
    results.steps.map((r) => ({
      model: r.model,
      ...Object.fromEntries(classes.map((c) => [c, r.shares[c] !== undefined ? `${r.shares[c]}%` : ''])),
    })),
  );
  process.stdout.write(
    arg('peak-gflops')
      ? `* MFU against the given peak of ${peak} GFLOP/s\n`
      : `* MFU against the best matmul GFLOP/s measured above at n=${n0} (${peak.toFixed(2)}), standing in for the adapter's peak (give --peak-gflops); on a busy machine the two phases see different loads\n`,
  );
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'kernels.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`wrote ${path.join(dir, 'kernels.json')}\n`);
  device.destroy();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:kernels: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
