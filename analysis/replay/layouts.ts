/**
 * The layout model: for a CommLens gpt-mini run, the step time and peak memory per rank of
 * other parallel layouts of the same job (the same model and the same global batch on the
 * same ranks and link). A layout is data parallel (DP) times at most one model-parallel
 * dimension, as the runtime combines them: tensor (TP, optionally with Megatron's sequence
 * parallelism), pipeline (PP, GPipe or 1F1B with M micro-batches), context (CP: Ulysses;
 * a new context-parallel method is one entry of CONTEXT_PARALLEL) or expert (EP, the
 * mixture-of-experts model's all-to-alls, optionally overlapped in chunks).
 *
 * Each quantity has one function here:
 *  - forward FLOPs per rank (forwardFlops): a block's matmuls 2·T·12d² (dense) or
 *    2·T·(4d² + dE + topK·8d²) (experts), attention 4·T·s·d, the head 2·T·d·V, for the T
 *    tokens the rank computes; TP divides the blocks by t, CP the tokens by c, PP the
 *    blocks by p (the stage with the head is the slowest); backward is twice the forward;
 *  - compute time: FLOPs over the run's own measured rate, plus each kernel's fixed time
 *    (dispatchesPerStep: on a software GPU a kernel takes about as long at a micro-batch of 2
 *    as at 8, and PP with m micro-batches runs its stage's kernels m times), priced by the
 *    run's dispatch probe (whatIf.ts dispatchCostsOf: the same kernels timed at two sizes at
 *    the start of the run, t = a + b·work; runs without it: the median of the trace's lightest
 *    tenth of kernels; the rate is then its FLOPs over its compute less those fixed times); under PP each
 *    micro-batch's forward and backward is a submission of its own (encode, upload, read
 *    back), at the run's host time per host phase (whatIf.ts hostTimePerSubmission: the step
 *    less its kernels and waits, over its host phases, mean, so the host's stalls count); the optimizer at
 *    the run's measured time per parameter;
 *  - the collectives per step and group (collectivesOf): TP 2 all-reduces per layer in
 *    forward and 2 in backward of b·s·d activations (sequence parallel: an all-gather and a
 *    reduce-scatter in place of each); PP a send of b/m·s·d activations per micro-batch and
 *    stage boundary each way; CP its method's per-layer collectives; EP a dispatch and a
 *    combine all-to-all per MoE block each way; DP an all-reduce of the gradients of the
 *    parameters each rank holds on its DP group (CP and EP's replicated parameters: on
 *    every rank) — each priced by the α–β cost model
 *    (costModel.ts collectiveCostNs) at the run's measured efficiency;
 *  - the pipeline bubble (pipelineBubbleNs): p−1 slots of a micro-batch's compute, so that
 *    bubble / pipeline = (p−1)/(m+p−1) (pipelineBubble.ts theoreticalBubbleFraction); the
 *    p2p transfers exposed are what the runtime's own schedule (GPipe or 1F1B with its
 *    blocking sendRecv pairs), replayed stage by stage, leaves beyond compute and bubble
 *    (pipelineSpanNs); each other group's collectives are exposed in full;
 *  - memory per rank (memoryOf): parameters, gradients and optimizer states of the parameters
 *    the rank holds (memoryModel.ts), and activations in flight (Korthikanti et al. 2022's
 *    count per layer and token, 34·d + 5·a·s half-precision bytes, in f32: GPipe holds all
 *    m micro-batches, 1F1B at most p; TP without sequence parallelism keeps 10·d of the 34·d
 *    whole; the logits of the head).
 *
 * Predictions move the run's measured step and peak memory by the model's difference
 * between the candidate and the run's own layout (the delta method of whatIf.ts), so what
 * the model misses about the run cancels; every prediction lists its components.
 */
import type { LinkProfile, RunInfo } from '../runInfo';
import { parseStrategyIds } from '../../trace/strategyIds';
import { collectiveCostNs } from './costModel';
import { modelStatesBytes, type Precision } from './memoryModel';
import { sharedTimeFactor } from './sharing';

export type PipelineSchedule = 'gpipe' | '1f1b';

/** A context-parallel method: its strategy id, the option naming its size, its collectives per layer. */
export interface ContextParallelMethod {
  strategy: string;
  sizeOption: string;
  /** Display name, e.g. "Ulysses". */
  name: string;
  /**
   * Share of the attention scores (a·s per local token, undivided) a rank holds per local
   * token: Ulysses computes a/c heads over the whole sequence for s/c tokens' worth, 1.
   */
  attentionScoresShare(c: number): number;
  /** Collectives per transformer layer (forward and backward together) of a rank, on its CP group of `c`. */
  perLayer(
    dModel: number,
    bytesPerElement: number,
    tokens: number,
    c: number,
  ): { op: string; count: number; bytes: number }[];
  /** True when its transfers run under the attention compute (ring attention's passes), exposed only beyond it. */
  overlapsAttention?: boolean;
}

/**
 * The context-parallel methods the runtime runs, their traffic as the runtime sends it
 * (trace/contextParallel.ts, the one definition; a test checks these against it):
 *  - Ulysses (DeepSpeed-Ulysses): per layer an all-to-all of Q, K, V (3 shards) before
 *    attention and one of the output (1 shard) after, and the same pair backward;
 *  - ring attention: 3c−2 passes of 2 shards (K and V forward; K and V, then dK and dV,
 *    backward), each overlapping a block's attention compute.
 * A shard is one rank's T/c tokens × d.
 */
export const CONTEXT_PARALLEL: Record<string, ContextParallelMethod> = {
  ulysses: {
    strategy: 'ulysses',
    sizeOption: 'sequenceParallelSize',
    name: 'Ulysses',
    attentionScoresShare: () => 1,
    perLayer: (dModel, bytesPerElement, tokens, c) => {
      const shard = (tokens / c) * dModel * bytesPerElement;
      return [
        { op: 'allToAll', count: 2, bytes: 3 * shard },
        { op: 'allToAll', count: 2, bytes: shard },
      ];
    },
  },
  ring: {
    strategy: 'ring',
    sizeOption: 'contextParallelSize',
    name: 'ring attention',
    // One visiting block's scores at a time (s/c per local token); backward recomputes them.
    attentionScoresShare: (c) => 1 / c,
    perLayer: (dModel, bytesPerElement, tokens, c) => [
      { op: 'send', count: 3 * c - 2, bytes: 2 * (tokens / c) * dModel * bytesPerElement },
    ],
    overlapsAttention: true,
  },
};

export interface Layout {
  dp: number;
  tp: number;
  pp: number;
  cp: number;
  ep: number;
  /** Megatron sequence parallelism inside the TP group. */
  sequenceParallel: boolean;
  microBatches: number;
  schedule: PipelineSchedule;
  /** The context-parallel method when cp > 1 (a key of CONTEXT_PARALLEL). */
  cpMethod?: string;
  /** Chunks each expert all-to-all is pipelined in with the experts' compute (1: none). */
  overlapChunks: number;
}

/** The job the layouts share: gpt-mini's dimensions, the batch per DP replica of the run, the ranks. */
export interface JobDims {
  layers: number;
  dModel: number;
  heads: number;
  seqLen: number;
  vocab: number;
  maxSeqLen: number;
  /** Sequences per step in all: the run's batch per replica × its DP replicas. */
  globalBatch: number;
  worldSize: number;
  experts?: number;
  topK?: number;
  capacityFactor?: number;
  /** Bytes per element of activations and gradients on the wire (CommLens: 4). */
  bytesPerElement: number;
  precision: Precision;
}

export const DEFAULT_LAYOUT: Omit<Layout, 'dp'> = {
  tp: 1,
  pp: 1,
  cp: 1,
  ep: 1,
  sequenceParallel: false,
  microBatches: 1,
  schedule: 'gpipe',
  overlapChunks: 1,
};

/** Sequences per DP replica per step under `l`. */
export function batchPerReplica(d: JobDims, l: Layout): number {
  // Under EP every rank trains on its own batch (runtime/strategies/expertParallel.ts).
  return l.ep > 1 ? d.globalBatch / d.worldSize : d.globalBatch / l.dp;
}

/** The job of a CommLens gpt-mini run, or why there is none. */
export function jobDimsOf(info: RunInfo, precision: Precision): JobDims | { problem: string } {
  if (info.modelKind !== 'gpt-mini')
    return { problem: `layouts are modelled for gpt-mini runs (got ${info.modelKind ?? 'an unknown model'})` };
  const { layers, hidden, heads, seqLen, vocab, batchSize, worldSize } = info;
  const missing = Object.entries({ layers, dModel: hidden, heads, seqLen, vocab, batchSize, worldSize })
    .filter(([, v]) => v === undefined || v <= 0)
    .map(([k]) => k);
  if (missing.length) return { problem: `the run config lacks ${missing.join(', ')}` };
  const current = layoutOfRun(info);
  if ('problem' in current) return current;
  const replicas = current.ep > 1 ? (worldSize as number) : current.dp;
  return {
    layers: layers as number,
    dModel: hidden as number,
    heads: heads as number,
    seqLen: seqLen as number,
    vocab: vocab as number,
    maxSeqLen: info.maxSeqLen ?? (seqLen as number),
    globalBatch: (batchSize as number) * replicas,
    worldSize: worldSize as number,
    experts: info.experts,
    topK: info.experts ? (info.topK ?? Math.min(2, info.experts)) : undefined,
    capacityFactor: info.experts ? (info.capacityFactor ?? 1.25) : undefined,
    bytesPerElement: 4,
    precision,
  };
}

const opt = (info: RunInfo, key: string): number | undefined => {
  const v = info.strategyOptions?.[key];
  return typeof v === 'number' ? v : undefined;
};

/**
 * The layout a CommLens run ran with, from its strategy and options, with the runtime's
 * defaults (runtime/strategies/options.ts resolveOptions: a size defaults to worldSize,
 * micro-batches to the stages, the schedule to GPipe).
 */
export function layoutOfRun(info: RunInfo): Layout | { problem: string } {
  const n = info.worldSize;
  if (!n) return { problem: 'the run config lacks worldSize' };
  const ids = parseStrategyIds(info.strategy);
  const model = ids.filter((s) => s !== 'ddp');
  const size = (key: string) => opt(info, key) ?? n;
  const l: Layout = { ...DEFAULT_LAYOUT, dp: n };
  if (model.length === 0) return l;
  if (model.length > 1) return { problem: `strategy '${info.strategy}' is not one parallel layout` };
  const s = model[0];
  const cp = Object.entries(CONTEXT_PARALLEL).find(([, m]) => m.strategy === s);
  if (s === 'tp') {
    l.tp = size('tensorParallelSize');
    l.sequenceParallel = info.strategyOptions?.sequenceParallel === true;
  } else if (s === 'pp') {
    l.pp = size('pipelineParallelSize');
    l.microBatches = opt(info, 'microBatches') ?? l.pp;
    l.schedule = info.strategyOptions?.schedule === '1f1b' ? '1f1b' : 'gpipe';
  } else if (s === 'ep') {
    l.ep = size('expertParallelSize');
    l.overlapChunks = opt(info, 'overlapChunks') ?? 1;
  } else if (cp) {
    l.cp = size(cp[1].sizeOption);
    l.cpMethod = cp[0];
  } else return { problem: `strategy '${info.strategy}' changes more than the layout` };
  // EP is a dimension of its own (runtime/comm/layout.ts); the others are carved out of DP.
  l.dp = n / (l.tp * l.pp * l.cp * l.ep);
  if (!Number.isInteger(l.dp) || l.dp < 1) return { problem: `strategy '${info.strategy}' does not fit ${n} ranks` };
  return l;
}

/** The layout as people write it: "DP 2 × TP 2", "DP 2 × PP 2 (1F1B, 4 micro-batches)", "EP 4 (2 overlap chunks)". */
export function layoutName(l: Layout): string {
  const parts: string[] = [];
  if (l.dp > 1 || (l.tp === 1 && l.pp === 1 && l.cp === 1 && l.ep === 1)) parts.push(`DP ${l.dp}`);
  if (l.tp > 1) parts.push(`TP ${l.tp}${l.sequenceParallel ? ' with sequence parallelism' : ''}`);
  if (l.pp > 1) parts.push(`PP ${l.pp} (${l.schedule === '1f1b' ? '1F1B' : 'GPipe'}, ${l.microBatches} micro-batches)`);
  if (l.cp > 1) parts.push(`CP ${l.cp} (${CONTEXT_PARALLEL[l.cpMethod ?? 'ulysses']?.name ?? l.cpMethod})`);
  if (l.ep > 1)
    parts.push(`EP ${l.ep}${l.overlapChunks > 1 ? ` (all-to-alls in ${l.overlapChunks} overlapped chunks)` : ''}`);
  return parts.join(' × ');
}

/**
 * The run config change that runs `l`: the strategy with every option of the layout (a run
 * of the same strategy keeps the options a change does not name: analysis/verify.ts
 * applyConfigChange), and the batch per replica that keeps the global batch.
 */
export function layoutConfigChange(d: JobDims, l: Layout): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  let strategy = 'ddp';
  if (l.tp > 1) {
    strategy = 'tp';
    o.tensorParallelSize = l.tp;
    o.sequenceParallel = l.sequenceParallel;
  } else if (l.pp > 1) {
    strategy = 'pp';
    o.pipelineParallelSize = l.pp;
    o.microBatches = l.microBatches;
    o.schedule = l.schedule;
  } else if (l.cp > 1) {
    const m = CONTEXT_PARALLEL[l.cpMethod ?? 'ulysses'];
    strategy = m.strategy;
    o[m.sizeOption] = l.cp;
  } else if (d.experts) {
    strategy = 'ep';
    o.expertParallelSize = l.ep;
    o.overlapChunks = l.overlapChunks;
  }
  return {
    strategy,
    ...(Object.keys(o).length ? { strategyOptions: o } : {}),
    model: { batchSize: batchPerReplica(d, l) },
  };
}

/** Parameters a rank holds under `l`, split into those of the DP group and those every rank of the world averages. */
export function paramsPerRank(d: JobDims, l: Layout): { total: number; expert: number } {
  const D = d.dModel,
    V = d.vocab,
    E = d.experts ?? 0;
  const embed = V * D + d.maxSeqLen * D;
  const head = 2 * D + D * V + V;
  // A block: two norms, qkv and proj with biases; the MLP with biases, or the router and E bias-free experts.
  const attn = 4 * D + 3 * D * D + 3 * D + D * D + D;
  const expertsPerBlock = E > 0 ? (E / l.ep) * 8 * D * D : 0;
  const mlp = E > 0 ? D * E + E : 4 * D * D + 4 * D + 4 * D * D + D;
  // Tensor parallel: qkv, fc1 (weights and biases) and the proj, fc2 weights are sharded; norms and the row biases stay whole.
  const sharded = 3 * D * D + 3 * D + 4 * D * D + 4 * D + D * D + 4 * D * D;
  const block = E > 0 ? attn + mlp : l.tp > 1 ? sharded / l.tp + (attn + mlp - sharded) : attn + mlp;
  const blocks = d.layers / l.pp;
  // Pipeline: the first stage holds the embedding, the last the head; the larger of the two counts.
  const ends = l.pp > 1 ? Math.max(embed, head) : embed + head;
  return { total: blocks * (block + expertsPerBlock) + ends, expert: blocks * expertsPerBlock };
}

/** Forward FLOPs per step of the busiest rank under `l` (see the file's comment), and those of the experts. */
export function forwardFlops(d: JobDims, l: Layout): { total: number; experts: number; attention: number } {
  const D = d.dModel;
  const tokens = (batchPerReplica(d, l) * d.seqLen) / l.cp;
  const E = d.experts ?? 0;
  const experts = E > 0 ? 2 * tokens * (d.topK ?? 1) * 8 * D * D : 0;
  const attention = (4 * tokens * d.seqLen * D) / l.tp;
  const block = (2 * tokens * (E > 0 ? 4 * D * D + D * E : 12 * D * D)) / l.tp + attention + experts;
  const head = 2 * tokens * D * d.vocab;
  const blocks = d.layers / l.pp;
  return { total: blocks * block + head, experts: blocks * experts, attention: blocks * attention };
}

/** Group kinds of a layout, as the trace names their tracks ("tp group 0 (ranks 0,1)"). */
export type GroupKind = 'dp' | 'tp' | 'pp' | 'cp' | 'ep' | 'world';

export interface LayoutCollective {
  group: GroupKind;
  groupSize: number;
  op: string;
  /** Per step, per rank. */
  count: number;
  /** Buffer bytes of each (nccl-tests' S). */
  bytes: number;
  /** True when the schedule waits for it (everything but a gradient all-reduce that overlaps). */
  blocking: boolean;
}

/** The collectives per step and rank of the busiest rank under `l` (see the file's comment). */
export function collectivesOf(d: JobDims, l: Layout): LayoutCollective[] {
  const out: LayoutCollective[] = [];
  const b = batchPerReplica(d, l);
  const tokens = b * d.seqLen;
  const act = tokens * d.dModel * d.bytesPerElement;
  const L = d.layers;
  if (l.tp > 1) {
    if (l.sequenceParallel)
      out.push(
        { group: 'tp', groupSize: l.tp, op: 'allGather', count: 4 * L, bytes: act, blocking: true },
        { group: 'tp', groupSize: l.tp, op: 'reduceScatter', count: 4 * L, bytes: act, blocking: true },
      );
    else out.push({ group: 'tp', groupSize: l.tp, op: 'allReduce', count: 4 * L, bytes: act, blocking: true });
  }
  if (l.pp > 1)
    out.push({
      group: 'pp',
      groupSize: 2,
      op: 'send',
      count: 2 * l.microBatches,
      bytes: act / l.microBatches,
      blocking: true,
    });
  if (l.cp > 1) {
    const m = CONTEXT_PARALLEL[l.cpMethod ?? 'ulysses'];
    for (const c of m.perLayer(d.dModel, d.bytesPerElement, tokens, l.cp))
      out.push({ group: 'cp', groupSize: l.cp, op: c.op, count: c.count * L, bytes: c.bytes, blocking: true });
  }
  if (l.ep > 1 && d.experts) {
    // Dispatch and combine, forward and backward: the capacity buffer of E·C ≈ capacityFactor·T·topK tokens.
    const slots = (d.capacityFactor ?? 1.25) * tokens * (d.topK ?? 1);
    out.push({
      group: 'ep',
      groupSize: l.ep,
      op: 'allToAll',
      count: 4 * L,
      bytes: slots * d.dModel * d.bytesPerElement,
      blocking: true,
    });
  }
  const p = paramsPerRank(d, l);
  const dense = p.total - p.expert;
  const g = d.bytesPerElement;
  if (l.ep > 1) {
    // Replicated parameters averaged over every rank; experts over the ranks holding the same ones.
    out.push({ group: 'world', groupSize: d.worldSize, op: 'allReduce', count: 1, bytes: dense * g, blocking: true });
    if (l.dp > 1 && p.expert > 0)
      out.push({ group: 'dp', groupSize: l.dp, op: 'allReduce', count: 1, bytes: p.expert * g, blocking: true });
  } else if (l.cp > 1)
    // Context parallel: the parameters are replicated, their gradients averaged over every rank.
    out.push({ group: 'world', groupSize: d.worldSize, op: 'allReduce', count: 1, bytes: p.total * g, blocking: true });
  else if (l.dp > 1)
    out.push({ group: 'dp', groupSize: l.dp, op: 'allReduce', count: 1, bytes: p.total * g, blocking: true });
  return out.filter((c) => c.count > 0 && c.groupSize > 1);
}

/** Peak memory per rank under `l`, by what holds it. */
export interface LayoutMemory {
  /** Parameters, gradients and optimizer states of the parameters the rank holds (memoryModel.ts). */
  modelStatesBytes: number;
  activationsBytes: number;
  totalBytes: number;
}

/** Micro-batches whose activations a stage holds at once: GPipe all m, 1F1B at most p (the first stage's warm-up). */
export function microBatchesInFlight(l: Layout): number {
  if (l.pp <= 1) return 1;
  return l.schedule === '1f1b' ? Math.min(l.pp, l.microBatches) : l.microBatches;
}

/** Memory per rank under `l` (see the file's comment). */
export function memoryOf(d: JobDims, l: Layout): LayoutMemory {
  const p = paramsPerRank(d, l);
  const states = modelStatesBytes(p.total, 0, 1, d.precision);
  const tokens = (batchPerReplica(d, l) * d.seqLen) / l.cp;
  const inFlight = (microBatchesInFlight(l) * tokens) / Math.max(1, l.pp > 1 ? l.microBatches : 1);
  // Korthikanti et al. (arXiv 2205.05198) per layer and token, 2-byte elements: 34·d + 5·a·s; twice that in f32.
  const whole = l.tp > 1 && !l.sequenceParallel ? 10 : 0;
  // Attention scores: a/t heads over the whole sequence per token; CP: its method's share (Ulysses: a/c heads for all s tokens, per local token the same).
  const scores = l.cp > 1 ? (CONTEXT_PARALLEL[l.cpMethod ?? 'ulysses']?.attentionScoresShare(l.cp) ?? 1) : 1;
  const perTokenLayer = 2 * ((whole + (34 - whole) / l.tp) * d.dModel + (scores * 5 * d.heads * d.seqLen) / l.tp);
  const logits = 2 * d.vocab * d.bytesPerElement; // logits and their softmax, per token, on the rank with the head
  const activations = inFlight * ((d.layers / l.pp) * perTokenLayer + logits);
  return { modelStatesBytes: states, activationsBytes: activations, totalBytes: states + activations };
}

/** What the model takes from the measured run: compute rates and the link. */
/**
 * What a rank's kernels cost beyond their FLOPs, measured on the run (whatIf.ts dispatchCostsOf).
 * On a software GPU (lavapipe) a kernel takes a fixed time whatever its size, and a small
 * micro-batch does not shrink the number of kernels: PP with m micro-batches dispatches every
 * kernel of its stage m times, and submits (and reads back) each micro-batch's forward and
 * backward on its own.
 */
export interface DispatchCosts {
  /**
   * Fixed time of one kernel: what the dispatch probe at the start of the run measured (the
   * same kernels timed at two sizes, runtime/dispatchProbe.ts), else the median duration of the
   * run's lightest tenth of kernels by FLOPs (runs recorded before the probe).
   */
  dispatchNs: number;
  /** Where dispatchNs comes from: the run's dispatch probe, or its lightest kernels. */
  dispatchSource: 'probe' | 'lightest kernels';
  /** Forward+backward kernels per step (the run's own layout): of one transformer layer, the embedding, the head and loss. */
  perLayer: number;
  embed: number;
  head: number;
  /**
   * Host time of one submission (whatIf.ts hostTimePerSubmission): the run's steps less their
   * kernels and waits, over their host phases, mean (stalls included); traces without host
   * phases: the step start to its first kernel, median.
   */
  submitNs: number;
}

export interface LayoutCalibration {
  /** Forward+backward FLOPs per ns of one rank (the run's FLOPs, over its measured compute less its dispatches' fixed time). */
  flopsPerNs: number;
  /** Kernel dispatches and submissions, per micro-batch pass (the run's counts over its micro-batches); undefined: FLOPs alone. */
  dispatch?: DispatchCosts;
  /** Optimizer time per parameter held (ns). */
  optimizerNsPerParam: number;
  link: LinkProfile;
  /** Measured / modelled time of the run's own collectives (1 when it has none with sizes). */
  commEfficiency: number;
  /**
   * The ranks share the machine's compute (sharing.ts): flopsPerNs and the dispatches' time are
   * then at every rank computing at once, as the model has the ranks of a layout without PP
   * compute; a pipeline's stages are replayed at the rate of the ranks computing at each moment.
   */
  sharing?: LayoutSharing;
}

export interface LayoutSharing {
  /** How much faster a rank computes alone than with all ranks (the run's probe), and the ranks. */
  speedup: number;
  worldSize: number;
  /**
   * The φ the model gives the run's own layout (sharing.ts), which its measured compute is taken
   * to have run at: 1 without PP (every rank computes at once), the busiest stage's replayed
   * compute over its work under PP.
   */
  modelFactor: number;
}

export interface GroupTime {
  group: GroupKind;
  groupSize: number;
  op: string;
  count: number;
  bytes: number;
  wireNs: number;
  exposedNs: number;
}

/** A layout's predicted step, by component (ns per step, the busiest rank). */
export interface LayoutStep {
  /** Forward+backward compute of the busiest rank: FLOPs at the run's rate plus its kernels' fixed time (dispatchNs). */
  computeNs: number;
  /** The part of computeNs that is kernels' fixed time: dispatches × the run's time per dispatch. */
  dispatchNs: number;
  /** Host submissions of the busiest rank per step (one per micro-batch forward and backward under PP) × the run's time per submission. */
  submitNs: number;
  optimizerNs: number;
  bubbleNs: number;
  wireNs: number;
  exposedCommNs: number;
  stepTimeNs: number;
  /** bubbleNs / (forward+backward compute + bubble): (p−1)/(m+p−1) when the stages are equal. */
  bubbleFraction: number;
  byGroup: GroupTime[];
}

/**
 * The pipeline bubble: p−1 slots of a micro-batch's stage time (its forward + backward) per
 * step, so that with m micro-batches it is (p−1)/(m+p−1) of the pipeline
 * (pipelineBubble.ts theoreticalBubbleFraction), GPipe and 1F1B alike; the transfers' share
 * is the replayed schedule's (pipelineSpanNs).
 */
export function pipelineBubbleNs(slotNs: number, stages: number): number {
  return stages > 1 ? (stages - 1) * slotNs : 0;
}

/** One stage's program of a pipeline step, in the order the runtime runs it (runtime/strategies/pipelineParallel.ts). */
type PipeOp =
  | { kind: 'F' | 'B' }
  | { kind: 'send'; tag: string }
  | { kind: 'recv'; tag: string }
  | { kind: 'sendRecv'; send: string; recv: string };

function stageProgram(s: number, p: number, m: number, schedule: PipelineSchedule): PipeOp[] {
  const ops: PipeOp[] = [];
  const first = s === 0,
    last = s === p - 1;
  const act = (k: number) => `a${s - 1}:${k}`; // activations from stage s−1
  const out = (k: number) => `a${s}:${k}`;
  const gradIn = (k: number) => `g${s - 1}:${k}`; // gradients to stage s−1
  const gradOut = (k: number) => `g${s}:${k}`; // gradients from stage s+1
  const forwardOne = (k: number) => {
    if (!first) ops.push({ kind: 'recv', tag: act(k) });
    ops.push({ kind: 'F' });
    if (!last) ops.push({ kind: 'send', tag: out(k) });
  };
  const backwardOne = (k: number) => {
    if (!last) ops.push({ kind: 'recv', tag: gradOut(k) });
    ops.push({ kind: 'B' });
    if (!first) ops.push({ kind: 'send', tag: gradIn(k) });
  };
  if (schedule === 'gpipe') {
    for (let k = 0; k < m; k++) forwardOne(k);
    for (let k = m - 1; k >= 0; k--) backwardOne(k);
    return ops;
  }
  const warm = Math.min(p - s - 1, m);
  const steady = m - warm;
  for (let k = 0; k < warm; k++) forwardOne(k);
  if (steady > 0 && !first) ops.push({ kind: 'recv', tag: act(warm) });
  for (let i = 0; i < steady; i++) {
    ops.push({ kind: 'F' });
    if (!last) ops.push({ kind: 'sendRecv', send: out(warm + i), recv: gradOut(i) });
    ops.push({ kind: 'B' });
    if (first) continue;
    if (i === steady - 1) ops.push({ kind: 'send', tag: gradIn(i) });
    else ops.push({ kind: 'sendRecv', send: gradIn(i), recv: act(warm + i + 1) });
  }
  for (let k = steady; k < m; k++) backwardOne(k);
  return ops;
}

/**
 * The pipeline's span of one step, replaying the runtime's own schedule
 * (runtime/strategies/pipelineParallel.ts) on every stage: a micro-batch's forward takes
 * `forwardNs` and its backward `backwardNs` on each stage; a send returns once posted and its
 * data arrives `transferNs` later (α + S/β: latency overlaps the next compute); a recv, and
 * the receiving half of a sendRecv, wait for that arrival. GPipe: every forward, then every
 * backward in reverse; 1F1B: p − s − 1 warm-up forwards on stage s, then one forward and one
 * backward at a time (the output leaving with the matching gradient's arrival in one
 * sendRecv), then the cool-down backwards. Returns the last stage end from the step start.
 */
export function pipelineSpanNs(
  p: number,
  m: number,
  schedule: PipelineSchedule,
  forwardNs: number,
  backwardNs: number,
  transferNs: number,
): number {
  const programs = Array.from({ length: p }, (_, s) => stageProgram(s, p, m, schedule));
  const clock = new Array<number>(p).fill(0);
  const pc = new Array<number>(p).fill(0);
  const arrival = new Map<string, number>();
  for (let progress = true; progress;) {
    progress = false;
    for (let s = 0; s < p; s++) {
      const ops = programs[s];
      while (pc[s] < ops.length) {
        const op = ops[pc[s]];
        if (op.kind === 'F' || op.kind === 'B') clock[s] += op.kind === 'F' ? forwardNs : backwardNs;
        else if (op.kind === 'send') arrival.set(op.tag, clock[s] + transferNs);
        else if (op.kind === 'recv' || op.kind === 'sendRecv') {
          // A sendRecv posts its send at once, then waits for what it receives.
          if (op.kind === 'sendRecv' && !arrival.has(op.send)) arrival.set(op.send, clock[s] + transferNs);
          const at = arrival.get(op.kind === 'recv' ? op.tag : op.recv);
          if (at === undefined) break;
          clock[s] = Math.max(clock[s], at);
        }
        pc[s]++;
        progress = true;
      }
    }
  }
  return Math.max(...clock);
}

/**
 * pipelineSpanNs with the ranks sharing the machine's compute (sharing.ts): each micro-batch's
 * forward and backward is a submission of `passNs` (host time, no kernels) then `forwardWork` or
 * `backwardWork` of compute, priced at all ranks computing at once; while k ranks compute
 * (`ranksPerStage` per stage computing) that work runs at 1/φ(k). Replayed event by event: the
 * rate changes whenever a stage starts or stops computing. Returns the span and, per stage, the
 * wall time of its compute; with speed-up 1 the span is pipelineSpanNs's.
 */
export function pipelineSpanSharedNs(
  p: number,
  m: number,
  schedule: PipelineSchedule,
  forwardWork: number,
  backwardWork: number,
  passNs: number,
  transferNs: number,
  share: { speedup: number; worldSize: number; ranksPerStage: number },
): { spanNs: number; computeNs: number[] } {
  const programs = Array.from({ length: p }, (_, s) => stageProgram(s, p, m, schedule));
  const pc = new Array<number>(p).fill(0);
  const pass = new Array<number>(p).fill(-1); // host time left of the current pass; −1: not in one
  const work = new Array<number>(p).fill(0); // its compute left (work at all ranks at once)
  const computeNs = new Array<number>(p).fill(0);
  const arrival = new Map<string, number>();
  let t = 0;
  for (;;) {
    // Run every stage's instantaneous operations, until none moves (a send lets another stage's
    // receive through); stop each at a pass or at a receive not yet arrived.
    const waitUntil = new Array<number>(p).fill(Infinity);
    for (let moved = true; moved;) {
      moved = false;
      for (let s = 0; s < p; s++) {
        const ops = programs[s];
        while (pc[s] < ops.length) {
          const op = ops[pc[s]];
          if (op.kind === 'F' || op.kind === 'B') {
            if (pass[s] < 0) {
              pass[s] = passNs;
              work[s] = op.kind === 'F' ? forwardWork : backwardWork;
            }
            break;
          }
          if (op.kind === 'send') arrival.set(op.tag, t + transferNs);
          else {
            if (op.kind === 'sendRecv' && !arrival.has(op.send)) arrival.set(op.send, t + transferNs);
            const at = arrival.get(op.kind === 'recv' ? op.tag : op.kind === 'sendRecv' ? op.recv : '');
            waitUntil[s] = at ?? Infinity;
            if (at === undefined || at > t) break;
          }
          waitUntil[s] = Infinity;
          pc[s]++;
          moved = true;
        }
      }
    }
    const active = Array.from({ length: p }, (_, s) => s).filter((s) => pass[s] >= 0);
    if (active.length === 0 && waitUntil.every((w) => w === Infinity)) break;
    const computing = active.filter((s) => pass[s] === 0);
    const phi = sharedTimeFactor(computing.length * share.ranksPerStage, share.worldSize, share.speedup);
    let dt = Math.min(...waitUntil.map((w) => w - t));
    for (const s of active) dt = Math.min(dt, pass[s] > 0 ? pass[s] : work[s] * phi);
    if (!Number.isFinite(dt)) break; // nothing can move (a program that never receives)
    t += dt;
    for (const s of active) {
      if (pass[s] > 0) pass[s] = Math.max(0, pass[s] - dt);
      else {
        work[s] -= dt / phi;
        computeNs[s] += dt;
        if (work[s] <= 1e-9 * Math.max(1, forwardWork + backwardWork)) {
          pass[s] = -1;
          work[s] = 0;
          pc[s]++;
        }
      }
    }
  }
  return { spanNs: t, computeNs };
}

/**
 * Forward+backward kernel dispatches per step of the busiest rank under `l`: every micro-batch
 * runs its stage's layers' kernels (and the embedding's on the first stage, the head's on the
 * last); TP, CP and EP split each kernel's work, not the kernels.
 */
export function dispatchesPerStep(d: JobDims, l: Layout, c: DispatchCosts): number {
  const m = l.pp > 1 ? l.microBatches : 1;
  const layers = (d.layers / l.pp) * c.perLayer;
  const perPass = l.pp > 1 ? layers + Math.max(c.embed, c.head) : layers + c.embed + c.head;
  return m * perPass;
}

/** Host submissions per step of a rank: one per micro-batch forward and one per backward under PP, else one. */
export function submitsPerStep(l: Layout): number {
  return l.pp > 1 ? 2 * l.microBatches : 1;
}

/** The step of `l` (see the file's comment): compute + bubble + exposed communication + optimizer. */
export function stepOf(d: JobDims, l: Layout, cal: LayoutCalibration): LayoutStep {
  const f = forwardFlops(d, l);
  const dispatchNs = cal.dispatch ? dispatchesPerStep(d, l, cal.dispatch) * cal.dispatch.dispatchNs : 0;
  const submitNs = cal.dispatch ? submitsPerStep(l) * cal.dispatch.submitNs : 0;
  // With ranks sharing the cores, this is at every rank computing at once (LayoutSharing).
  let computeNs = (3 * f.total) / cal.flopsPerNs + dispatchNs;
  let dispatchPart = dispatchNs;
  const expertNs = (3 * f.experts) / cal.flopsPerNs;
  const attentionNs = (3 * f.attention) / cal.flopsPerNs;
  const cpMethod = l.cp > 1 ? CONTEXT_PARALLEL[l.cpMethod ?? 'ulysses'] : undefined;
  const optimizerNs = cal.optimizerNsPerParam * paramsPerRank(d, l).total;
  const m = l.pp > 1 ? l.microBatches : 1;
  let p2pEachNs = 0;
  const byGroup: GroupTime[] = collectivesOf(d, l).map((c) => {
    const each = cal.commEfficiency * collectiveCostNs(c.op, c.bytes, c.groupSize, cal.link);
    const wireNs = c.count * each;
    let exposedNs = c.blocking ? wireNs : 0;
    if (c.group === 'pp') p2pEachNs = each;
    // Ring attention's passes run under the blocks' attention compute: exposed only beyond it.
    if (c.group === 'cp' && cpMethod?.overlapsAttention) exposedNs = Math.max(0, wireNs - attentionNs);
    // Expert all-to-alls in K chunks: the first chunk's transfer, then whatever the experts' compute does not hide.
    if (c.group === 'ep' && l.overlapChunks > 1) {
      const k = l.overlapChunks;
      exposedNs = wireNs / k + (Math.max(0, wireNs - expertNs) * (k - 1)) / k;
    }
    return { group: c.group, groupSize: c.groupSize, op: c.op, count: c.count, bytes: c.bytes, wireNs, exposedNs };
  });
  // Pipeline: p−1 idle slots of one micro-batch's forward + backward (fill and drain), each
  // with its own submission; the transfers expose what the runtime's schedule, replayed, does
  // not hide under compute.
  const passNs = cal.dispatch?.submitNs ?? 0;
  let bubbleNs = pipelineBubbleNs((computeNs + submitNs) / m, l.pp);
  if (l.pp > 1 && cal.sharing) {
    // The stages replayed at the rate of the ranks computing at each moment: compute is the
    // busiest stage's wall time computing, the bubble what the replay without transfers adds
    // to it and the submissions, the p2p's exposure what the transfers add to that replay.
    const share = { ...cal.sharing, ranksPerStage: cal.sharing.worldSize / l.pp };
    const run = (transferNs: number) =>
      pipelineSpanSharedNs(
        l.pp,
        m,
        l.schedule,
        computeNs / (3 * m),
        (2 * computeNs) / (3 * m),
        passNs,
        transferNs,
        share,
      );
    const withTransfers = run(p2pEachNs);
    const alone = run(0);
    const busiest = Math.max(...alone.computeNs);
    dispatchPart = computeNs > 0 ? (dispatchPart * busiest) / computeNs : 0;
    computeNs = busiest;
    bubbleNs = Math.max(0, alone.spanNs - computeNs - submitNs);
    for (const g of byGroup) if (g.group === 'pp') g.exposedNs = Math.max(0, withTransfers.spanNs - alone.spanNs);
  } else if (l.pp > 1) {
    const fwd = computeNs / (3 * m) + passNs;
    const bwd = (2 * computeNs) / (3 * m) + passNs;
    const span = pipelineSpanNs(l.pp, m, l.schedule, fwd, bwd, p2pEachNs);
    for (const g of byGroup) if (g.group === 'pp') g.exposedNs = Math.max(0, span - computeNs - submitNs - bubbleNs);
  }
  const wireNs = byGroup.reduce((t, g) => t + g.wireNs, 0);
  const exposedCommNs = byGroup.reduce((t, g) => t + g.exposedNs, 0);
  return {
    computeNs,
    dispatchNs: dispatchPart,
    submitNs,
    optimizerNs,
    bubbleNs,
    wireNs,
    exposedCommNs,
    stepTimeNs: computeNs + submitNs + bubbleNs + exposedCommNs + optimizerNs,
    bubbleFraction: l.pp > 1 && computeNs + submitNs + bubbleNs > 0 ? bubbleNs / (computeNs + submitNs + bubbleNs) : 0,
    byGroup,
  };
}

/** What the run measured, per step, that the model is calibrated on and predictions move from. */
export interface MeasuredRun {
  stepTimeNs: number;
  /** Forward+backward compute per step of a rank (mean over ranks), without the optimizer. */
  computeNs: number;
  optimizerNs: number;
  peakMemoryBytes?: number;
  link: LinkProfile;
  commEfficiency: number;
  /** The run's kernels' fixed time and counts (whatIf.ts dispatchCostsOf); undefined: compute is FLOPs alone. */
  dispatch?: DispatchCosts;
  /**
   * The ranks share the machine's compute (whatIf.ts measuredRunOf: the probe's speed-up of a
   * rank alone at or above sharing.ts SHARING_MIN_SPEEDUP). `measuredFactor`, the φ the run's
   * kernels ran at, is for the record: the model's stages overlap pass by pass, not kernel by
   * kernel, so the run's compute is calibrated at the φ the model gives its own layout.
   */
  sharing?: { speedup: number; worldSize: number; measuredFactor: number };
}

/** The model's rates from the run's own layout: its compute over its FLOPs, its optimizer over its parameters. */
export function calibrate(d: JobDims, current: Layout, m: MeasuredRun): LayoutCalibration {
  const flops = 3 * forwardFlops(d, current).total;
  // The run's counts are per step of its own layout: per micro-batch pass, they are over its micro-batches.
  const mb = current.pp > 1 ? current.microBatches : 1;
  let dispatch: DispatchCosts | undefined = m.dispatch
    ? { ...m.dispatch, perLayer: m.dispatch.perLayer / mb, embed: m.dispatch.embed / mb, head: m.dispatch.head / mb }
    : undefined;
  let fixedNs = dispatch ? dispatchesPerStep(d, current, dispatch) * dispatch.dispatchNs : 0;
  // Sharing: the run's compute ran at the φ the model gives its layout (1 without PP; under PP the
  // busiest stage's replayed compute over its work, without transfers); at every rank computing
  // at once it is computeNs / φ. So the run's own layout predicts its own compute.
  let sharing: LayoutSharing | undefined;
  if (m.sharing) {
    let modelFactor = 1;
    if (current.pp > 1 && m.computeNs > 0) {
      const c = m.computeNs;
      const share = { ...m.sharing, ranksPerStage: m.sharing.worldSize / current.pp };
      const replay = pipelineSpanSharedNs(
        current.pp,
        mb,
        current.schedule,
        c / (3 * mb),
        (2 * c) / (3 * mb),
        dispatch?.submitNs ?? 0,
        0,
        share,
      );
      modelFactor = Math.max(...replay.computeNs) / c;
    }
    sharing = { speedup: m.sharing.speedup, worldSize: m.sharing.worldSize, modelFactor };
  }
  const computeNs = m.computeNs / (sharing?.modelFactor ?? 1);
  // Fixed time that would leave the FLOPs almost nothing is no floor: compute is then FLOPs alone.
  if (!(fixedNs < 0.8 * computeNs)) {
    dispatch = undefined;
    fixedNs = 0;
  }
  return {
    flopsPerNs: computeNs > 0 ? flops / (computeNs - fixedNs) : Infinity,
    ...(dispatch ? { dispatch } : {}),
    ...(sharing ? { sharing } : {}),
    optimizerNsPerParam: m.optimizerNs / Math.max(1, paramsPerRank(d, current).total),
    link: m.link,
    commEfficiency: m.commEfficiency,
  };
}

export interface LayoutPrediction {
  layout: Layout;
  name: string;
  /** Measured step + (model of this layout − model of the run's own). */
  stepTimeNs: number;
  /** Measured peak + (model − model of the run's), never below the model's own figure; undefined without a measured peak and a model. */
  peakMemoryBytes: number;
  /** Measured exposed communication + (model − model of the run's), a pipeline's bubble counted in it as a run's analysis counts it (blocked in receives). */
  exposedCommNs: number;
  model: LayoutStep;
  memory: LayoutMemory;
  /** The run's own layout as modelled, for the comparison. */
  baseline: { layout: Layout; name: string; model: LayoutStep; memory: LayoutMemory };
}

/** Predicts `l` from the run's measured figures and its own layout (the delta method). */
export function predictLayout(
  d: JobDims,
  current: Layout,
  l: Layout,
  measured: MeasuredRun,
  measuredExposedCommNs: number,
): LayoutPrediction {
  const cal = calibrate(d, current, measured);
  const base = stepOf(d, current, cal);
  const next = stepOf(d, l, cal);
  const baseMem = memoryOf(d, current);
  const nextMem = memoryOf(d, l);
  const peak =
    measured.peakMemoryBytes !== undefined
      ? Math.max(nextMem.modelStatesBytes, measured.peakMemoryBytes + nextMem.totalBytes - baseMem.totalBytes)
      : nextMem.totalBytes;
  return {
    layout: l,
    name: layoutName(l),
    stepTimeNs: Math.max(0, measured.stepTimeNs + next.stepTimeNs - base.stepTimeNs),
    // As the analysis measures it on a run of the layout: a pipeline stage spends its bubble
    // blocked in a receive, which counts as exposed communication there (a gpt-mini PP 2 GPipe m2
    // re-run, 2026-12-08: 165.7 ms exposed a step, and 115.6 ms a step of waiting in its replayed split).
    exposedCommNs: Math.max(
      0,
      measuredExposedCommNs + next.exposedCommNs + next.bubbleNs - base.exposedCommNs - base.bubbleNs,
    ),
    peakMemoryBytes: peak,
    model: next,
    memory: nextMem,
    baseline: { layout: current, name: layoutName(current), model: base, memory: baseMem },
  };
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let k = 1; k <= n; k++) if (n % k === 0) out.push(k);
  return out;
}

/**
 * The layouts of the job worth comparing on its ranks: DP alone; each TP size with and
 * without sequence parallelism; each PP size with m = p, 2p, 4p micro-batches under GPipe
 * and 1F1B; each CP size of each method; for a mixture of experts, each EP size with 1, 2
 * and 4 overlap chunks (the model runs only under EP and DP). Sizes divide the world; the
 * batch per replica must stay whole. Whether the runtime accepts each is checked by the
 * caller (the runtime's own validation).
 */
export function candidateLayouts(d: JobDims): Layout[] {
  const n = d.worldSize;
  const out: Layout[] = [];
  const add = (l: Omit<Layout, 'dp'>, modelSize: number) => {
    if (n % modelSize !== 0) return;
    const layout = { ...l, dp: n / modelSize };
    const b = batchPerReplica(d, layout);
    if (Number.isInteger(b) && b >= 1) out.push(layout);
  };
  if (d.experts) {
    for (const ep of divisors(n))
      for (const k of ep > 1 ? [1, 2, 4] : [1]) add({ ...DEFAULT_LAYOUT, ep, overlapChunks: k }, ep);
    return out;
  }
  add(DEFAULT_LAYOUT, 1);
  for (const s of divisors(n).filter((k) => k > 1)) {
    add({ ...DEFAULT_LAYOUT, tp: s }, s);
    add({ ...DEFAULT_LAYOUT, tp: s, sequenceParallel: true }, s);
    for (const m of [s, 2 * s, 4 * s])
      for (const schedule of ['gpipe', '1f1b'] as const)
        add({ ...DEFAULT_LAYOUT, pp: s, microBatches: m, schedule }, s);
    for (const method of Object.keys(CONTEXT_PARALLEL)) add({ ...DEFAULT_LAYOUT, cp: s, cpMethod: method }, s);
  }
  return out;
}

/** True when two layouts run the same way. */
export function sameLayout(a: Layout, b: Layout): boolean {
  return (
    a.dp === b.dp &&
    a.tp === b.tp &&
    a.pp === b.pp &&
    a.cp === b.cp &&
    a.ep === b.ep &&
    (a.tp === 1 || a.sequenceParallel === b.sequenceParallel) &&
    (a.pp === 1 || (a.microBatches === b.microBatches && a.schedule === b.schedule)) &&
    (a.cp === 1 || (a.cpMethod ?? 'ulysses') === (b.cpMethod ?? 'ulysses')) &&
    (a.ep === 1 || a.overlapChunks === b.overlapChunks)
  );
}
