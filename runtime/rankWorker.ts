/**
 * One rank: a worker thread with its own WebGPU device, its own trainer and a
 * communicator into the shared world. Trains `config.steps` steps, reports each step's
 * spans to the coordinator, and stops at the first error (aborting the world so that
 * every other rank stops too instead of waiting on this one).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isSoftwareAdapter, requestAdapter, requestDevice } from './gpu/dawn';
import { hostNowNs } from './clock';
import { createTrainer, type Trainer } from './engine';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlockedMeter, machineCpuMs } from './hostCpu';
import { Communicator, abortWorld, busBandwidthFactor, throwIfAborted } from './comm';
import {
  createStrategy,
  sequenceParallelFor,
  contextParallelFor,
  strategyMemory,
  tensorParallelFor,
  pipelineStageFor,
  expertParallelFor,
  type Strategy,
} from './strategies';
import type { RankInit, RankMessage, RankSpan } from './rankMessages';
import { commSpanToRankSpan } from './commSpans';

const init = workerData as RankInit;
const port = parentPort!;
const post = (m: RankMessage): void => port.postMessage(m);

async function run(): Promise<void> {
  const { rank, worldSize, config } = init;
  const commSpans: RankSpan[] = [];
  // Per step: Σ S of the rank's collectives (the "bytes per step" figure), and what it put
  // on the wire.
  let bytes = 0;
  let wireBytes = 0;
  // On rank 0, on a software GPU (set once the adapter is known): the machine's and the process's
  // CPU while the rank is blocked on its collectives.
  const blocked = rank === 0 ? new BlockedMeter(hostNowNs) : undefined;
  const comm = Communicator.fromInit(
    init.world as never,
    rank,
    (s) => {
      if (s.kind === 'collective') bytes += s.bytes;
      // What this rank sends for the collective: S × the nccl-tests bus factor
      // (2(n−1)/n for all-reduce, (n−1)/n for reduce-scatter / all-gather / all-to-all).
      // A recv puts nothing on this rank's wire.
      if (s.kind === 'collective' && s.op !== 'recv')
        wireBytes += s.bytes * busBandwidthFactor(s.op, s.groupSize ?? worldSize);
      if (init.tracing) commSpans.push(commSpanToRankSpan(s));
    },
    blocked ? { blockedMeter: blocked } : {},
  );
  const adapter = await requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter in this worker (run `commlens doctor`)');
  if (blocked) blocked.enabled = isSoftwareAdapter(adapter);
  const device = await requestDevice(adapter, { f16: config.model.dtype === 'f16' });
  let lost = false;
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') {
      lost = true;
      abortWorld(init.world as never, `GPU device lost on rank ${rank}: ${info.message}`, rank);
    }
  });
  device.addEventListener('uncapturederror', (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    abortWorld(init.world as never, `GPU error on rank ${rank}: ${err.message}`, rank);
  });

  let trainer: Trainer | undefined;
  let strategy: Strategy | undefined;
  try {
    trainer = await createTrainer(device, {
      model: config.model as never,
      optimizer: config.optimizer as never,
      seed: config.seed,
      rank,
      worldSize,
      timing: config.gpuTiming && init.tracing,
      sequenceParallel: sequenceParallelFor(config, comm),
      contextParallel: contextParallelFor(config, comm),
      tensorParallel: tensorParallelFor(config, comm),
      pipeline: pipelineStageFor(config, comm),
      expertParallel: expertParallelFor(config, comm),
    });
    strategy = createStrategy(config, {
      comm,
      device,
      trainer,
      onSpan: (sp) => {
        if (init.tracing) commSpans.push(sp);
      },
    });
    post({
      type: 'ready',
      rank,
      adapter: adapter.info.description || adapter.info.device || adapter.info.vendor,
      paramCount: trainer.paramCount,
      flopsPerStep: trainer.flopsPerStep,
      calibrationErrorNs: trainer.calibrationErrorNs,
      layers: trainer.layers.map((l) => ({ name: l.name, paramOffset: l.paramOffset, paramCount: l.paramCount })),
    });
    for (let step = 0; step < config.steps; step++) {
      // A cancel (or another rank's failure) stops every rank at the next step boundary,
      // also where no collective would notice it (one rank, local-update strategies).
      throwIfAborted(init.world as never, rank);
      const startNs = hostNowNs();
      // The whole process's CPU time over the step (every rank's thread, the GPU's own threads
      // when it is a software GPU such as lavapipe, the coordinator): how busy the machine was.
      const cpu0 = process.cpuUsage();
      // And the whole machine's, on rank 0 (one reading per step is enough: the process's is shared).
      const machine0 = rank === 0 ? machineCpuMs() : undefined;
      const blocked0 = blocked?.enabled ? blocked.totals() : undefined;
      const hostSpans: RankSpan[] = [];
      const mark = (name: string, t0: number): void => {
        if (init.tracing) hostSpans.push({ stream: 'host', category: 'host', name, startNs: t0, endNs: hostNowNs() });
      };
      let t = hostNowNs();
      trainer.nextBatch(step);
      mark('data', t);
      if (strategy.beforeForward) {
        t = hostNowNs();
        await strategy.beforeForward(step);
        mark('before forward (strategy)', t);
      }
      t = hostNowNs();
      if (strategy.forward) await strategy.forward(step);
      else trainer.forward();
      mark('forward (encode)', t);
      t = hostNowNs();
      await strategy.backwardAndExchange(step);
      mark('backward + gradient exchange', t);
      t = hostNowNs();
      await strategy.optimizerStep(step);
      mark('optimizer', t);
      const loss = strategy.loss ? await strategy.loss() : await trainer.loss();
      if (lost) throw new Error('GPU device lost');
      if (!Number.isFinite(loss))
        throw new Error(
          `loss is ${loss} at step ${step} on rank ${rank}: training diverged (lower optimizer.lr or enable optimizer.clipGradNorm)`,
        );
      const kernelSpans = init.tracing ? await trainer.drainSpans() : [];
      const endNs = hostNowNs();
      const cpu = process.cpuUsage(cpu0);
      const machineCpuNs = machine0 === undefined ? undefined : (machineCpuMs() - machine0) * 1e6;
      const blocked1 = blocked?.enabled ? blocked.totals() : undefined;
      const blockedCpu =
        blocked0 && blocked1
          ? {
              wallNs: blocked1.wallNs - blocked0.wallNs,
              machineNs: blocked1.machineNs - blocked0.machineNs,
              processNs: blocked1.processNs - blocked0.processNs,
            }
          : undefined;
      const spans: RankSpan[] = !init.tracing
        ? []
        : [
            { stream: 'host', category: 'step', name: `step ${step}`, startNs, endNs, args: { step } },
            ...hostSpans,
            ...kernelSpans.map((k): RankSpan => ({
              stream: 'compute',
              category: 'kernel',
              name: k.name,
              startNs: k.startNs,
              endNs: k.endNs,
              args: { phase: k.phase, ...(k.flops !== undefined ? { flops: k.flops } : {}), ...(k.args ?? {}) },
            })),
            ...commSpans.splice(0),
          ];
      post({
        type: 'step',
        rank,
        step,
        loss,
        startNs,
        endNs,
        spans,
        bytes,
        wireBytes,
        memory: strategyMemory(strategy, trainer.memoryBytes()),
        processCpuNs: (cpu.user + cpu.system) * 1000,
        ...(machineCpuNs !== undefined ? { machineCpuNs } : {}),
        ...(blockedCpu ? { blockedCpu } : {}),
        ...(init.tracing && strategy.counters ? { counters: strategy.counters() } : {}),
      });
      bytes = 0;
      wireBytes = 0;
    }
    // Debug hook for tests: the parameters each rank ends with (every rank takes part, as
    // ZeRO-3 gathers them).
    const dumpDir = process.env.COMMLENS_DEBUG_PARAMS_DIR;
    if (dumpDir && strategy.readParameters) {
      const params = await strategy.readParameters();
      writeFileSync(
        join(dumpDir, `params-rank${rank}.f32`),
        new Uint8Array(params.buffer, params.byteOffset, params.byteLength),
      );
    }
    const notes = strategy.notes?.() ?? [];
    post({ type: 'done', rank, pool: trainer.poolStats(), ...(notes.length ? { notes } : {}) });
  } finally {
    strategy?.destroy?.();
    trainer?.destroy();
    device.destroy();
  }
}

run().catch((e: unknown) => {
  const err = e as Error;
  // Report first, then wake the others: the coordinator should hear the cause before
  // it hears the other ranks complaining that they were aborted.
  const aborted = err?.name === 'CommAbortedError';
  post({ type: 'error', rank: init.rank, message: err?.message ?? String(e), stack: err?.stack, aborted });
  if (!aborted) {
    try {
      abortWorld(init.world as never, `rank ${init.rank}: ${err?.message ?? String(e)}`, init.rank);
    } catch {
      // the world may be gone already
    }
  }
});
