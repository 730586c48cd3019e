/**
 * Measures, at the start of a run, the fixed time of one kernel dispatch apart from the work
 * it does: what a pipeline-parallel layout pays again for every micro-batch's kernels
 * (analysis/replay/layouts.ts), which a trace's kernels cannot tell apart from their work.
 *
 * Two of the engine's own kernels, each at two sizes a factor SIZE_RATIO apart: the matmul
 * the engine picks for a [tokens × 128] · [128 × 128] product and the element-wise add over
 * [tokens × 128]. Each is timed the way the runtime times real kernels (a compute pass of its
 * own with GPU timestamps, runtime/engine/spans.ts), on one device per rank at once (the
 * ranks share this machine's cores or GPU as they will in training), the sizes interleaved
 * so that a change in load falls on both alike, and every rank running the same size at once,
 * as the ranks of a training step run kernels of one size at once. Per kernel, with
 * t = a + b · work, the fixed part is a = (r · t_small − t_large) / (r − 1) from the MEAN times
 * at both sizes; the probe's figure is the mean of the two kernels' (each ≥ 0). Means, not
 * medians: a step's compute is the sum of its kernels' times, and on a loaded machine a share
 * of dispatches wait for a core (lavapipe's workers join at the end of every dispatch), a cost
 * per dispatch that lives in the slow tail. ~0.5 s on 2 lavapipe ranks.
 *
 * Then, on the same devices (compiled, warm), the sharing probe (SharingProbe): the large size's
 * kernels on every rank at once against one rank alone while the others wait, SHARING_ROUNDS
 * rounds of each of SHARING_MIN_PER or more dispatches per kernel, interleaved; their mean
 * durations' ratio is how much faster a rank computes alone (analysis/replay/sharing.ts). It
 * needs that many: a rank's kernels beside the others' took 0.8 to 13 ms where alone they took
 * 0.8–1.5 ms (4 lavapipe ranks, 2 cores), a few long ones carrying most of the time. With 4
 * rounds of 2 dispatches (4 ranks) or 4 (2 ranks), as before 2026-12-06, ten probes in a row
 * read 1.9–4.8 on 4 ranks quiet (spread 34 % of the mean), and beside two busy threads 1.2–5.0
 * on 4 ranks and 1.0–4.3 on 2 (46–48 %); with 12 rounds of 4, 2.2–3.0 on 4 ranks quiet and
 * 2.1–3.0 loaded (8–9 %), 1.3–2.0 on 2 (10–12 %). The median of per-round ratios spread no less
 * than the pooled means (docs/benchmarks.md, 2026-12-06). With a GPU per rank it should read
 * ~1, and below 1.1 the model takes the ranks not to share.
 * A failure of this part is recorded as `sharingError` beside the dispatch figures.
 *
 * Measured on 2 lavapipe ranks (gpt-mini's DDP baselines against their PP 2 m8 runs, a per extra
 * dispatch from the sums of mean kernel times): at load 2.6–4.8 the traces gave 9–60 µs, the
 * median fit 45–207 µs, the mean fit 0–324 µs; beside 2 busy threads (load 3–7) the traces gave
 * 1.1–1.5 ms, the median fit 0.15–0.40 ms, the mean fit 0.69–1.74 ms. The sizes must not be mixed
 * across ranks: with each rank interleaving both sizes in one submission the median fit read
 * 0.45–0.69 ms at load 1–4, a small kernel then sharing the cores with the other rank's large one.
 */
import { requestAdapter, requestDevice } from './gpu/dawn';
import { GpuContext } from './engine/context';
import type { KernelSpan } from './engine/spans';
import { encodeBinary } from './engine/ops/elementwise';
import { encodeMatmul } from './engine/ops/matmul';
import { hostNowNs } from './clock';
import { mean, median } from '../trace/stats';

/** How much larger the large size is than the small one (the tokens of a batch against a quarter of it). */
export const SIZE_RATIO = 4;
/** Rounds per size, each one submission of reps / ROUNDS dispatches of each kernel per rank. */
const ROUNDS = 12;

export interface DispatchKernelProbe {
  /** Mean duration at the small and the large size (ns), and the fixed part fitted from them. */
  smallNs: number;
  largeNs: number;
  fixedNs: number;
  /** Median durations, for reference (the fit takes the means: a step's compute is a sum of kernel times). */
  smallMedianNs: number;
  largeMedianNs: number;
}

/**
 * How much faster a rank's kernels run while the other ranks are idle: the large size's kernels
 * timed with every rank dispatching at once and with one rank alone (the others waiting; the
 * lone rank rotates), rounds interleaved. On lavapipe the ranks' devices share the machine's
 * cores, so a rank alone runs faster; with one GPU per rank it reads ~1.
 */
export interface SharingProbe {
  /** Mean kernel duration (ns) with every rank at once, and with one rank alone (same kernels, same size). */
  sharedNs: number;
  aloneNs: number;
  /** sharedNs / aloneNs: the speed of a rank alone over its speed with every rank computing. */
  speedup: number;
  /** Rounds of each kind (one submission per dispatching rank of max(SHARING_MIN_PER, reps / ROUNDS) dispatches of each kernel). */
  rounds: number;
  wallNs: number;
}

/** Rounds of each kind (all ranks at once, one rank alone) of the sharing probe, and the fewest dispatches of each kernel per rank a round (see the file's comment). */
const SHARING_ROUNDS = 12;
const SHARING_MIN_PER = 4;

export interface DispatchProbe {
  /** The fixed time of one dispatch (ns): the mean of the kernels' fixed parts. */
  fixedNs: number;
  /** Per kernel (`matmul`, `add`): the mean times it is fitted from (and the medians, for reference). */
  kernels: Record<string, DispatchKernelProbe>;
  /** The token counts of the small and the large size, the ranks timed at once, the dispatches timed per kernel and size per rank. */
  tokens: [number, number];
  ranks: number;
  reps: number;
  wallNs: number;
  /** Every rank at once against one alone (2+ ranks); `sharingError` when it could not be measured. */
  sharing?: SharingProbe;
  sharingError?: string;
}

/** The fixed part of t = a + b · work from the times at work w and r · w: a = (r · t_small − t_large) / (r − 1), ≥ 0. */
export function fixedPartOf(smallNs: number, largeNs: number, ratio = SIZE_RATIO): number {
  return Math.max(0, (ratio * smallNs - largeNs) / (ratio - 1));
}

/** The sharing figures from the kernel durations (ns) timed with every rank at once and with one alone. */
export function sharingProbeOf(sharedNs: number[], aloneNs: number[], rounds: number, wallNs: number): SharingProbe {
  if (sharedNs.length === 0 || aloneNs.length === 0) throw new Error('the sharing probe timed no kernels');
  const shared = mean(sharedNs),
    alone = mean(aloneNs);
  if (!(alone > 0)) throw new Error(`the sharing probe's kernels alone took ${alone} ns: no timing`);
  return { sharedNs: shared, aloneNs: alone, speedup: shared / alone, rounds, wallNs };
}

/**
 * Runs the probe on `ranks` devices at once: `reps` timed dispatches of each kernel at each
 * size per rank (after four untimed rounds of two: pipeline compilation, first touch), at `tokens` and
 * SIZE_RATIO × `tokens` rows of width 128.
 */
export async function probeDispatch(
  ranks: number,
  opts: { reps?: number; tokens?: number } = {},
): Promise<DispatchProbe> {
  // 48 per rank on 2 ranks (~0.45 s on lavapipe at load 2.5-4.6); fewer per rank on more ranks, as many in all.
  const reps = opts.reps ?? Math.max(ROUNDS, Math.round(96 / Math.max(1, ranks)));
  const small = opts.tokens ?? 64;
  const large = small * SIZE_RATIO;
  const width = 128;
  const t0 = hostNowNs();
  const ctxs: GpuContext[] = [];
  try {
    for (let r = 0; r < Math.max(1, ranks); r++) {
      const adapter = await requestAdapter();
      if (!adapter) throw new Error('no WebGPU adapter for the dispatch probe (run `commlens doctor`)');
      const ctx = new GpuContext(await requestDevice(adapter), { timing: true });
      if (!ctx.spans) throw new Error('the adapter has no timestamp queries: kernels cannot be timed');
      ctxs.push(ctx);
    }
    const calls = ctxs.map((ctx) => {
      const w = ctx.tensor([width, width]);
      const sized = [small, large].map((tokens) => ({
        tokens,
        x: ctx.tensor([tokens, width]),
        y: ctx.tensor([tokens, width]),
        z: ctx.tensor([tokens, width]),
      }));
      const ones = new Float32Array(large * width).fill(1 / width);
      for (const t of [w, ...sized.flatMap((s) => [s.x, s.y])])
        ctx.device.queue.writeBuffer(t.buf.gpu, t.offsetBytes, ones, 0, t.size);
      // One size per round on every rank: the ranks then contend as in training, where they
      // run kernels of one size at once (a small kernel beside a large one would be slowed for
      // all its time, the large one for part of it, and the fit would read that as fixed time).
      const round = (size: number, times: number) => {
        const s = sized[size];
        for (let i = 0; i < times; i++) {
          encodeMatmul(
            ctx,
            {
              M: s.tokens,
              N: width,
              K: width,
              transA: false,
              transB: false,
              a: s.x.binding(),
              b: w.binding(),
              c: s.z.binding(),
            },
            `dispatch probe matmul ${s.tokens}`,
          );
          encodeBinary(ctx, 'add', s.x, s.y, s.z, `dispatch probe add ${s.tokens}`);
        }
        ctx.submit();
      };
      return { ctx, round };
    });
    const roundOn = async (on: typeof calls, size: number, times: number) => {
      for (const c of on) c.round(size, times);
      await Promise.all(on.map((c) => c.ctx.guard(c.ctx.device.queue.onSubmittedWorkDone())));
      return (await Promise.all(on.map((c) => c.ctx.spans!.drain()))).flat();
    };
    const roundAll = (size: number, times: number) => roundOn(calls, size, times);
    // Pipeline compilation, first touch of the buffers, the driver's threads awake.
    for (const size of [0, 1, 0, 1]) await roundAll(size, 2);
    // The sizes alternate round by round, so that a change in load falls on both alike.
    const bySize: KernelSpan[][] = [[], []];
    for (let r = 0; r < ROUNDS; r++)
      for (const size of r % 2 ? [1, 0] : [0, 1])
        bySize[size].push(...(await roundAll(size, Math.ceil(reps / ROUNDS))));
    const kernels: Record<string, DispatchKernelProbe> = {};
    for (const kernel of ['matmul', 'add']) {
      const times = (size: 0 | 1) =>
        bySize[size]
          .filter((s) => s.name === `dispatch probe ${kernel} ${size ? large : small}`)
          .map((s) => s.endNs - s.startNs);
      const [s, l] = [times(0), times(1)];
      const smallNs = mean(s),
        largeNs = mean(l);
      kernels[kernel] = {
        smallNs,
        largeNs,
        fixedNs: fixedPartOf(smallNs, largeNs),
        smallMedianNs: median(s),
        largeMedianNs: median(l),
      };
    }
    const fixed = Object.values(kernels).map((k) => k.fixedNs);
    // Sharing: the large size on every rank at once against one rank alone, interleaved; a
    // failure leaves the dispatch figures.
    let sharing: { sharing: SharingProbe } | { sharingError: string } | undefined;
    if (calls.length > 1) {
      try {
        const s0 = hostNowNs();
        const shared: number[] = [],
          alone: number[] = [];
        const per = Math.max(SHARING_MIN_PER, Math.ceil(reps / ROUNDS));
        for (let r = 0; r < SHARING_ROUNDS; r++) {
          const lone = [calls[r % calls.length]];
          for (const all of r % 2 ? [false, true] : [true, false]) {
            const spans = await roundOn(all ? calls : lone, 1, per);
            (all ? shared : alone).push(...spans.map((x) => x.endNs - x.startNs));
          }
        }
        sharing = { sharing: sharingProbeOf(shared, alone, SHARING_ROUNDS, hostNowNs() - s0) };
      } catch (e) {
        sharing = { sharingError: (e as Error).message };
      }
    }
    return {
      fixedNs: mean(fixed),
      kernels,
      tokens: [small, large],
      ranks: ctxs.length,
      reps,
      wallNs: hostNowNs() - t0,
      ...sharing,
    };
  } finally {
    for (const ctx of ctxs) {
      ctx.destroy();
      ctx.device.destroy();
    }
  }
}
