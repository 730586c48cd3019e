/**
 * Measures this machine's compute throughput per rank at start-up, for links scaled to a
 * target GPU (config `scaleLinkTo`): the link is slowed by target FLOP/s ÷ local FLOP/s,
 * so communication takes the share of a step it would take on the target cluster.
 *
 * What is measured: the matmul the engine would pick for a square product, run on one
 * device per rank at the same time (ranks share this machine's cores or GPU exactly as
 * they will in training), timed on the host from submit to completion. Each rank's
 * throughput is its FLOPs over the wall time of the whole round. Target figures
 * (runtime/comm GPU_PEAK_FLOPS) are peaks too, so the ratio compares like with like.
 */
import { isSoftwareAdapter, requestAdapter, requestDevice } from './gpu/dawn';
import { quietly } from './gpu/quietWait';
import { GpuContext } from './engine/context';
import { encodeMatmul } from './engine/ops/matmul';
import { chooseMatmulVariant } from './engine/ops/matmulSelect';
import { hostNowNs } from './clock';
import { GPU_PEAK_FLOPS } from './comm';

export interface ComputeProbe {
  /** Matmul FLOP/s each rank reached while every rank computed at once. */
  flopsPerRank: number;
  /** The product measured (n × n × n) and the kernel the engine chose for it. */
  n: number;
  variant: string;
  /** Rounds timed, and the wall time of the timed part (ns). */
  rounds: number;
  wallNs: number;
}

/** Target FLOP/s of `scaleLinkTo`: a GPU name of GPU_PEAK_FLOPS or a number. Undefined when unknown. */
export function targetFlopsOf(scaleLinkTo: string | number): number | undefined {
  if (typeof scaleLinkTo === 'number') return scaleLinkTo > 0 && Number.isFinite(scaleLinkTo) ? scaleLinkTo : undefined;
  return GPU_PEAK_FLOPS[scaleLinkTo];
}

/**
 * Runs the probe on `ranks` devices at once. `minWallMs`: the timed part runs at least
 * this long (rounds double until it does), so a fast GPU is measured as well as a slow CPU.
 */
export async function probeComputeFlops(
  ranks: number,
  opts: { minWallMs?: number; maxRounds?: number } = {},
): Promise<ComputeProbe> {
  const minWallNs = (opts.minWallMs ?? 150) * 1e6;
  const maxRounds = opts.maxRounds ?? 256;
  const ctxs: GpuContext[] = [];
  try {
    let software = false;
    for (let r = 0; r < ranks; r++) {
      const adapter = await requestAdapter();
      if (!adapter) throw new Error('no WebGPU adapter for the compute probe (run `commlens doctor`)');
      software = isSoftwareAdapter(adapter);
      ctxs.push(new GpuContext(await requestDevice(adapter), { timing: false }));
    }
    // Big enough to be throughput-bound (on a CPU adapter this is the texture kernel's regime).
    const n = software ? 512 : 2048;
    const shape = { M: n, N: n, K: n, transA: false, transB: false };
    const calls = ctxs.map((ctx) => {
      const [a, b, c] = [0, 1, 2].map(() => ctx.ownedBuffer(n * n * 4));
      const ones = new Float32Array(n * n).fill(1 / n);
      ctx.device.queue.writeBuffer(a.gpu, 0, ones);
      ctx.device.queue.writeBuffer(b.gpu, 0, ones);
      const variant = chooseMatmulVariant(ctx, shape, 'f32');
      return {
        ctx,
        variant,
        run: () =>
          encodeMatmul(
            ctx,
            { ...shape, a: { buffer: a.gpu }, b: { buffer: b.gpu }, c: { buffer: c.gpu }, variant },
            'compute probe',
          ),
      };
    });
    const round = async (times: number): Promise<number> => {
      const t0 = hostNowNs();
      for (const c of calls) {
        for (let i = 0; i < times; i++) c.run();
        c.ctx.submit();
      }
      await Promise.all(calls.map((c) => quietly(c.ctx.device.queue.onSubmittedWorkDone())));
      return hostNowNs() - t0;
    };
    await round(1); // pipeline compilation, first touch of the buffers and textures
    let rounds = 1;
    let wallNs = await round(rounds);
    while (wallNs < minWallNs && rounds < maxRounds) {
      rounds = Math.min(maxRounds, rounds * 2);
      wallNs = await round(rounds);
    }
    const flopsPerRank = (rounds * 2 * n * n * n) / (wallNs / 1e9);
    return { flopsPerRank, n, variant: calls[0].variant.id, rounds, wallNs };
  } finally {
    for (const ctx of ctxs) {
      ctx.destroy();
      ctx.device.destroy();
    }
  }
}
