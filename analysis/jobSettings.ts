/**
 * The job's current settings, read from its trace: world size and process groups, DDP or
 * FSDP / ZeRO, the dtype the collectives carry, the communication hook, DDP's buckets
 * (count, sizes, the `bucket_cap_mb` they imply) and the parameter count. Each setting
 * comes with what it was read from (`evidence`) and how sure that is (`confidence`);
 * what the trace cannot tell is `value: null` with the reason. The advisor starts from
 * these (advisor.ts): it never suggests what the job already does, and names each change
 * from the current value to the new one.
 *
 * What PyTorch leaves in a trace (analysis/SCHEMA.md, "Job settings"):
 * - Kineto traces carry, per collective, `dtype`, `In msg nelems` / `Out msg nelems`,
 *   `Group size` and the process group (`record_param_comms` or the NCCL kernel's args),
 *   so dtype, bucket sizes and the parameter count are read directly.
 * - Pre-Kineto traces (PyTorch built without Kineto, e.g. Debian's python3-torch 1.13)
 *   have `"args": {}` on every event: no sizes, no dtypes, no groups. What is left is the
 *   op names and their order: the number of all-reduces per step (DDP's buckets), and a
 *   compress hook's cast (`aten::to` → `aten::_to_copy`, then `aten::div_`) just before
 *   each all-reduce.
 *
 * DDP's buckets (PyTorch ≥ 1.10, `find_unused_parameters=False`): after the first
 * iteration DDP rebuilds its buckets in the order gradients become ready; the first bucket
 * closes once it holds at least 1 MiB (`dist._DEFAULT_FIRST_BUCKET_BYTES`), each next one
 * once it holds at least `bucket_cap_mb` MiB (default 25); the last takes what is left. So
 * every bucket but the first and the last is between the cap and the cap plus one tensor,
 * and the last is below the cap.
 */
import type { Slice, TraceModel } from '../trace/model';
import { dtypeBytes } from '../trace/kinetoCollectives';
import { formatBytes, groupDigits } from '../trace/format';
import type { RankView } from './rankView';
import type { CastCount } from './rankFigures';

export type { CastCount } from './rankFigures';

export type Confidence = 'high' | 'medium' | 'low' | 'unknown';

/** One setting: its value (null when the trace cannot tell), in words, and what it was read from. */
export interface Finding<T> {
  value: T | null;
  /** The value as a person would write it (`bucket_cap_mb=0.5`, `fp16_compress_hook`), or why it is unknown. */
  text: string;
  evidence: string;
  confidence: Confidence;
}

/** How the job shards its data-parallel state. */
export type DataParallel = 'ddp' | 'fsdp-full-shard' | 'fsdp-shard-grad-op' | 'zero1' | 'none';

/** The DDP communication hook: PyTorch's names; `16-bit compress` when fp16 and bf16 cannot be told apart. */
export type CommHook = 'none' | 'fp16_compress_hook' | 'bf16_compress_hook' | '16-bit compress' | 'powerSGD_hook';

export interface ProcessGroupFound {
  /** The group's name (`Process Group Name`), or `default` when the trace names none. */
  name: string;
  size?: number;
  /** Collectives of the group on the reference rank over the trace. */
  collectives: number;
  ops: string[];
}

export interface BucketsFound {
  /** Gradient all-reduces per step (DDP: one per bucket). */
  perStep: number;
  /** Each bucket's gradient bytes at the gradient dtype, in launch order, when the trace has sizes. */
  sizesBytes?: number[];
}

/** What a process group does in the job, from its collectives in a step. */
export type GroupRole = 'dp' | 'tp' | 'pp' | 'ep' | 'cp';

/** The parallel layout read from the process groups: sizes per dimension, each group's role. */
export interface LayoutFound {
  dp: number;
  tp: number;
  pp: number;
  ep: number;
  cp: number;
  /** The groups of the reference rank with their role, size and collectives per step. */
  groups: { name: string; role: GroupRole; size?: number; perStep: number; ops: string[] }[];
  /** Groups whose collectives move activations, not gradients (TP, PP, EP, CP), on every rank. */
  modelParallelGroups: string[];
  /** The layout as the frameworks set it: Megatron-LM's arguments, DeepSpeed's settings for EP and Ulysses. */
  flags: string;
}

export interface JobSettings {
  /** The rank whose steps were read (the lowest rank with collectives). */
  referenceRank?: number;
  /** The step whose collectives were read (the last step with the most common pattern). */
  step?: number;
  worldSize: Finding<number>;
  processGroups: Finding<ProcessGroupFound[]>;
  /** The communication backend, from the collectives' names: `gloo` (CPU) or `nccl` / `rccl` (GPU kernels). */
  backend?: Finding<'gloo' | 'nccl' | 'rccl'>;
  dataParallel: Finding<DataParallel>;
  /** The dtype the gradient collectives carry on the wire: `fp32`, `bf16`, `fp16`, `16-bit`, … */
  collectiveDtype: Finding<string>;
  /** The gradients' own dtype (before a compress hook casts them). */
  gradientDtype: Finding<string>;
  commHook: Finding<CommHook>;
  buckets: Finding<BucketsFound>;
  bucketCapMb: Finding<number>;
  /** Parameters, from the gradient elements reduced per step (the wire bytes over the wire dtype's size). */
  paramCount: Finding<number>;
  /**
   * The parallel layout, when the job has process groups of more than one kind (e.g. "TP 2 ×
   * DP 4 (Megatron)"); absent for a plain data-parallel job or a trace without groups.
   */
  layout?: Finding<LayoutFound>;
}

/** The backend of a rank's collectives: gloo ops on the CPU, or NCCL / RCCL kernels on the GPU. */
function backendOf(model: TraceModel, colls: readonly Slice[], rank: number): Finding<'gloo' | 'nccl' | 'rccl'> {
  const named = (re: RegExp) => colls.find((s) => re.test(s.name));
  const gloo = named(/^gloo:/);
  if (gloo) return { value: 'gloo', text: 'gloo', evidence: `${gloo.name} on rank ${rank}`, confidence: 'high' };
  const rccl = named(/rccl/i);
  if (rccl) return { value: 'rccl', text: 'RCCL', evidence: `${rccl.name} on rank ${rank}`, confidence: 'high' };
  const gpu = colls.find((s) => model.tracks[s.track]?.gpu);
  if (gpu)
    return { value: 'nccl', text: 'NCCL', evidence: `${gpu.name} (a GPU kernel) on rank ${rank}`, confidence: 'high' };
  return unknown(`no gloo op or NCCL kernel among rank ${rank}'s collectives`);
}

/** DDP's default first bucket (dist._DEFAULT_FIRST_BUCKET_BYTES) and default cap. */
export const DDP_FIRST_BUCKET_BYTES = 1024 * 1024;
export const DDP_DEFAULT_BUCKET_CAP_MB = 25;
const MiB = 1024 * 1024;

/**
 * Values of `bucket_cap_mb` people write; the inferred cap is the largest of them at or
 * below the smallest full bucket (and above the last bucket), since a full bucket holds
 * the cap plus at most one tensor.
 */
const CAP_LADDER = [
  0.01, 0.02, 0.05, 0.1, 0.125, 0.2, 0.25, 0.5, 1, 2, 4, 5, 8, 10, 15, 16, 20, 25, 30, 32, 40, 50, 64, 75, 100, 128,
  150, 200, 250, 256, 500, 512, 1000, 1024,
];

/** PyTorch's dtype names (`Float`, `c10::Half`, `BFloat16`, `float`, `f16`) in the short form people write. */
/** Bytes per element of a dtype as shortDtype writes it (`fp32` 4, `bf16` / `fp16` / `16-bit` 2), or as PyTorch does. */
export function dtypeSize(d: string | null | undefined): number | undefined {
  if (!d) return undefined;
  if (d === '16-bit') return 2;
  const k = shortDtype(d);
  return k === 'fp32' ? 4 : k === 'fp16' || k === 'bf16' ? 2 : k === 'fp64' ? 8 : dtypeBytes(d);
}

export function shortDtype(d: string): string {
  const k = d
    .toLowerCase()
    .replace(/^c10::/, '')
    .replace(/^torch\./, '');
  if (/^(float|float32|f32|fp32)$/.test(k)) return 'fp32';
  if (/^(half|float16|f16|fp16)$/.test(k)) return 'fp16';
  if (/^(bfloat16|bf16)$/.test(k)) return 'bf16';
  if (/^(double|float64|f64)$/.test(k)) return 'fp64';
  return k;
}

const unknown = <T>(why: string, evidence = why): Finding<T> => ({
  value: null,
  text: 'unknown',
  evidence,
  confidence: 'unknown',
});

const LAUNCHER = /^(c10d::all_?reduce|record_param_comms$|nccl:all_reduce)/;
const CAST = /^aten::(_to_copy|to)$/;
const POWERSGD_OPS = /linalg_qr|orthogonalize|_linalg_qr_helper|aten::geqrf/;
/** Ops of a mixture-of-experts layer (router, gate, experts), telling expert from context parallel all-to-alls. */
const MOE_OPS = /moe|expert|router|gate/i;
const FSDP_NAME = /FullyShardedDataParallel|FSDP/;
const ZERO_NAME = /ZeroRedundancyOptimizer/;
const DDP_NAME = /DistributedDataParallel|ddp\.reducer/;
/** The slice names jobSettings looks for anywhere in the trace; a digested rank says which of them it has (analysis/rankDigest.ts). */
export const NAME_SIGNS: readonly RegExp[] = [MOE_OPS, FSDP_NAME, ZERO_NAME, DDP_NAME, POWERSGD_OPS];

/** Which of NAME_SIGNS the slices' names match (and `more` names: a digested rank's runtime calls kept as launch times only). */
export function nameSignsOf(model: TraceModel, more: readonly string[] = []): boolean[] {
  const names = new Set<string>(more);
  for (let i = 0; i < model.slices.length; i++) names.add(model.slices[i].name);
  const out = NAME_SIGNS.map(() => false);
  for (const n of names)
    for (let k = 0; k < NAME_SIGNS.length; k++) if (!out[k] && NAME_SIGNS[k].test(n)) out[k] = true;
  return out;
}

function isPreKineto(model: TraceModel): boolean {
  const info = model.meta.info;
  if (!info) return false;
  if (info.preKineto === true) return true;
  const ranks = info.ranks;
  return (
    Array.isArray(ranks) &&
    ranks.length > 0 &&
    ranks.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r) && r.preKineto === true)
  );
}

interface StepCollectives {
  step?: number;
  startNs: number;
  endNs: number;
  list: Slice[];
}

/** The most common value and how often it occurs (ties: the larger value). */
function mode(xs: number[]): { value: number; count: number } {
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best = { value: 0, count: 0 };
  for (const [value, count] of counts)
    if (count > best.count || (count === best.count && value > best.value)) best = { value, count };
  return best;
}

/** Gradient elements of a collective: bytes over its dtype's size (undefined without both). */
function elementsOf(s: Slice): number | undefined {
  const bytes = s.args?.bytes;
  const size = dtypeBytes(typeof s.args?.dtype === 'string' ? s.args.dtype : undefined);
  return typeof bytes === 'number' && size ? bytes / size : undefined;
}

/**
 * The launcher of each gradient all-reduce on the rank's host threads and what ran just
 * before it on the same thread (since the previous launcher): a compress hook casts the
 * bucket (`aten::to` / `aten::_to_copy`) and divides it (`aten::div_`) right before. Per
 * window (the host slices that start in it), in one pass over each thread's slices.
 */
export function castsBeforeAllReduces(
  model: TraceModel,
  pid: number,
  windows: readonly { startNs: number; endNs: number }[],
): CastCount[] {
  const byTrack = new Map<number, Slice[]>();
  for (const s of model.slices) {
    const t = model.tracks[s.track];
    if (t?.pid !== pid || t.gpu) continue;
    let l = byTrack.get(s.track);
    if (!l) byTrack.set(s.track, (l = []));
    l.push(s);
  }
  const lists = [...byTrack.values()];
  for (const l of lists) l.sort((a, b) => a.startNs - b.startNs || b.durNs - a.durNs);
  return windows.map((w) => {
    let launchers = 0,
      withCast = 0;
    for (const all of lists) {
      // The thread's slices that start in the window (a sorted run of them).
      let lo = 0,
        hi = all.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (all[mid].startNs < w.startNs) lo = mid + 1;
        else hi = mid;
      }
      let end = lo;
      while (end < all.length && all[end].startNs < w.endNs) end++;
      let prevEnd = -Infinity;
      let lastLauncherEnd = -Infinity;
      for (let i = lo; i < end; i++) {
        const s = all[i];
        if (!LAUNCHER.test(s.name)) continue;
        // Only the outermost launcher (record_param_comms sits inside c10d::allreduce_).
        if (s.startNs < lastLauncherEnd) continue;
        lastLauncherEnd = s.startNs + s.durNs;
        launchers++;
        // The ops between the previous launcher and this one, the last few before it.
        const before: string[] = [];
        for (let j = i - 1; j >= lo && before.length < 8; j--) {
          const p = all[j];
          if (p.startNs < prevEnd) break;
          if (p.startNs + p.durNs <= s.startNs) before.push(p.name);
        }
        // Nearest first: a division after a cast (`.to(torch.float16).div_(world_size)`); PyTorch 1.13
        // also shows a small aten::to between the division and the launch.
        const divAt = before.indexOf('aten::div_');
        if (divAt >= 0 && before.slice(divAt + 1).some((n) => CAST.test(n))) withCast++;
        prevEnd = s.startNs + s.durNs;
      }
    }
    return { launchers, withCast };
  });
}

/** The windows castsBeforeAllReduces is asked about for a rank: each of its steps, else the whole trace. */
export function castWindowsOf(view: RankView | undefined): { step?: number; startNs: number; endNs: number }[] {
  return view?.steps.length
    ? view.steps.map((st) => ({ step: st.step, startNs: st.startNs, endNs: st.endNs }))
    : [{ startNs: -Infinity, endNs: Infinity }];
}

/** The bucket cap the bucket sizes imply (module doc), with its bounds in the evidence. */
function inferBucketCap(sizes: number[]): Finding<number> {
  const mb = (b: number) => `${(b / MiB).toFixed(3).replace(/\.?0+$/, '')} MiB`;
  if (sizes.length === 1)
    return {
      value: null,
      text: 'unknown',
      evidence: `one gradient bucket per step (${mb(sizes[0])}): the whole model fits in DDP's first bucket or under the cap, so the cap cannot be told`,
      confidence: 'unknown',
    };
  const last = sizes[sizes.length - 1];
  const full = sizes.slice(1, -1);
  if (full.length === 0) {
    // Only the first (1 MiB) bucket and the rest: the cap is above the rest.
    const ok = last < DDP_DEFAULT_BUCKET_CAP_MB * MiB;
    return {
      value: ok ? DDP_DEFAULT_BUCKET_CAP_MB : null,
      text: ok
        ? `bucket_cap_mb=${DDP_DEFAULT_BUCKET_CAP_MB} (the default; only known to be above ${mb(last)})`
        : 'unknown',
      evidence: `two buckets per step: DDP's first bucket (${mb(sizes[0])}: it closes once it holds 1 MiB) and the rest (${mb(last)}), so bucket_cap_mb > ${mb(last)}${ok ? ', as the default 25 is' : ''}`,
      confidence: ok ? 'low' : 'unknown',
    };
  }
  const upper = Math.min(...full);
  const lower = last < upper ? last : 0;
  const cap = [...CAP_LADDER].reverse().find((c) => c * MiB <= upper && c * MiB > lower);
  const bounds = `the smallest full bucket is ${mb(upper)} (a bucket closes once it reaches the cap)${lower > 0 ? `, the last one ${mb(lower)} (below the cap)` : ''}`;
  if (cap === undefined)
    return { value: null, text: 'unknown', evidence: `${bounds}: no usual value fits`, confidence: 'unknown' };
  const exact = full.every((b) => b >= cap * MiB && b < cap * MiB * 1.5);
  return {
    value: cap,
    text: `bucket_cap_mb=${cap}${cap === DDP_DEFAULT_BUCKET_CAP_MB ? ' (the default)' : ''}`,
    evidence: `${sizes.length} buckets per step of ${sizes.map(mb).join(', ')}; ${bounds}: the largest usual value in between is ${cap}`,
    confidence: exact ? 'medium' : 'low',
  };
}

const P2P_OPS: readonly string[] = ['send', 'recv', 'sendRecv'];
const REDUCTION_OPS: readonly string[] = ['allReduce', 'reduceScatter', 'allGather', 'broadcast', 'reduce'];

/**
 * The parallel layout from the reference rank's collectives in one step, per process group
 * (Megatron-LM's and DeepSpeed's groups): a group that sends and receives point-to-point is a
 * pipeline group (PP); one that all-to-alls is expert parallel (EP) when the trace has MoE ops
 * (router, experts, gate), else context parallel (CP, DeepSpeed-Ulysses); of the groups that
 * all-reduce, reduce-scatter or all-gather, when there are several, the one with the most
 * collectives per step is tensor parallel (TP: several per layer) and the others data
 * parallel (DP: the gradients). Sizes come from the groups (`Group size`); a dimension whose
 * group has no size is what the world leaves. Undefined when the step shows one kind of group
 * only (a data-parallel job: dataParallel says which).
 */
export function layoutOfGroups(
  list: readonly Slice[],
  worldSize: number | null,
  hasMoeOps: boolean,
  where: string,
): Finding<LayoutFound> | undefined {
  const byGroup = new Map<string, { size?: number; ops: Map<string, number> }>();
  for (const c of list) {
    const name = typeof c.args?.group === 'string' && c.args.group ? c.args.group : 'default';
    let g = byGroup.get(name);
    if (!g) byGroup.set(name, (g = { ops: new Map() }));
    const op = typeof c.args?.op === 'string' ? c.args.op : c.name;
    g.ops.set(op, (g.ops.get(op) ?? 0) + 1);
    if (typeof c.args?.groupSize === 'number') g.size = c.args.groupSize;
  }
  const groups: LayoutFound['groups'] = [];
  const reducing: { name: string; size?: number; perStep: number; ops: string[] }[] = [];
  for (const [name, g] of byGroup) {
    if (g.size === 1) continue;
    const ops = [...g.ops.keys()];
    const perStep = [...g.ops.values()].reduce((a, b) => a + b, 0);
    const entry = { name, size: g.size, perStep, ops };
    if (ops.some((o) => P2P_OPS.includes(o))) groups.push({ ...entry, role: 'pp' });
    else if (ops.includes('allToAll')) groups.push({ ...entry, role: hasMoeOps ? 'ep' : 'cp' });
    else if (ops.some((o) => REDUCTION_OPS.includes(o))) reducing.push(entry);
  }
  reducing.sort((a, b) => b.perStep - a.perStep);
  // TP: the busiest reducing group, when another group reduces too and it runs at least twice as many per step.
  if (reducing.length >= 2 && reducing[0].perStep >= 2 * reducing[1].perStep && (reducing[0].size ?? 0) !== worldSize)
    groups.push({ ...reducing.shift()!, role: 'tp' });
  for (const r of reducing) groups.push({ ...r, role: 'dp' });
  const roles = new Set(groups.map((g) => g.role));
  if (roles.size <= 1 && !roles.has('pp') && !roles.has('tp')) return undefined;
  const sizeOf = (role: GroupRole): number | undefined => {
    const sized = groups.filter((g) => g.role === role && g.size !== undefined && g.size !== worldSize);
    return sized.length > 0 ? Math.max(...sized.map((g) => g.size as number)) : undefined;
  };
  const dims: Record<GroupRole, number | undefined> = {
    tp: sizeOf('tp'),
    pp: sizeOf('pp'),
    ep: sizeOf('ep'),
    cp: sizeOf('cp'),
    dp: sizeOf('dp'),
  };
  // A dimension seen without a size of its own (a group as large as the world, or none given): what the others leave.
  const known = (Object.keys(dims) as GroupRole[]).filter((d) => dims[d] !== undefined);
  const unsized = (Object.keys(dims) as GroupRole[]).filter((d) => dims[d] === undefined && roles.has(d));
  const product = known.reduce((t, d) => t * (dims[d] as number), 1);
  let guessed = false;
  if (worldSize && unsized.length === 1 && worldSize % product === 0) {
    dims[unsized[0]] = worldSize / product;
    guessed = true;
  }
  if (!roles.has('dp') && worldSize && dims.dp === undefined) {
    const mp = (['tp', 'pp', 'ep', 'cp'] as const).reduce((t, d) => t * (dims[d] ?? 1), 1);
    if (worldSize % mp === 0) dims.dp = worldSize / mp;
  }
  const value: LayoutFound = {
    dp: dims.dp ?? 1,
    tp: dims.tp ?? 1,
    pp: dims.pp ?? 1,
    ep: dims.ep ?? 1,
    cp: dims.cp ?? 1,
    groups,
    modelParallelGroups: groups.filter((g) => g.role !== 'dp').map((g) => g.name),
    flags: '',
  };
  value.flags = layoutFlags(value);
  const parts: string[] = [];
  if (value.tp > 1) parts.push(`TP ${value.tp}`);
  if (value.pp > 1) parts.push(`PP ${value.pp}`);
  if (value.cp > 1) parts.push(`CP ${value.cp}`);
  if (value.ep > 1) parts.push(`EP ${value.ep}`);
  parts.push(`DP ${value.dp}`);
  const framework =
    value.tp > 1 || value.pp > 1
      ? 'Megatron'
      : value.ep > 1
        ? 'expert parallel: DeepSpeed-MoE or Megatron'
        : 'context parallel: DeepSpeed-Ulysses';
  const roleText: Record<GroupRole, string> = {
    tp: 'tensor parallel',
    pp: 'pipeline parallel',
    ep: 'expert parallel',
    cp: 'context parallel',
    dp: 'data parallel',
  };
  return {
    value,
    text: `${parts.join(' × ')} (${framework})`,
    evidence: `${groups.map((g) => `group ${g.name}${g.size ? ` of ${g.size}` : ''}: ${g.perStep} ${g.ops.join('/')} per step, ${roleText[g.role]}`).join('; ')} (${where})${guessed ? `; the ${unsized[0].toUpperCase()} size is what the world of ${worldSize} leaves` : ''}; as set: ${value.flags}`,
    confidence: groups.every((g) => g.size !== undefined) && !guessed ? 'high' : 'medium',
  };
}

/**
 * The layout as the frameworks set it: Megatron-LM's --tensor-model-parallel-size and
 * --pipeline-model-parallel-size (data parallelism is what the world leaves), Megatron-Core's
 * --expert-model-parallel-size or DeepSpeed-MoE's ep_size, Megatron's --context-parallel-size
 * or DeepSpeed's sequence_parallel_size for Ulysses.
 */
export function layoutFlags(l: Pick<LayoutFound, 'tp' | 'pp' | 'ep' | 'cp' | 'dp'>): string {
  const out: string[] = [];
  if (l.tp > 1 || l.pp > 1) out.push(`--tensor-model-parallel-size ${l.tp} --pipeline-model-parallel-size ${l.pp}`);
  if (l.ep > 1) out.push(`--expert-model-parallel-size ${l.ep} (DeepSpeed-MoE: ep_size ${l.ep})`);
  if (l.cp > 1)
    out.push(`DeepSpeed-Ulysses sequence_parallel_size ${l.cp} (Megatron: --context-parallel-size ${l.cp})`);
  out.push(`data parallel ${l.dp}`);
  return out.join('; ');
}

/**
 * Reads the job's settings from the trace: `views` are the analysis' rank views (their
 * steps). Never throws on odd input: what cannot be read is `unknown` with the reason.
 */
export function jobSettings(model: TraceModel, views: RankView[]): JobSettings {
  const preKineto = isPreKineto(model);
  const noArgs =
    'the pre-Kineto trace (PyTorch built without Kineto) records no args on its events: no sizes, dtypes or process groups';
  const rankOfPid = new Map(model.processes.map((p) => [p.pid, p.rank]));
  const collByPid = new Map<number, Slice[]>();
  for (const s of model.slices) {
    if (s.category !== 'collective') continue;
    const pid = model.tracks[s.track]?.pid;
    if (pid === undefined) continue;
    let l = collByPid.get(pid);
    if (!l) collByPid.set(pid, (l = []));
    l.push(s);
  }
  const ranksWith = [...collByPid.keys()]
    .map((pid) => ({ pid, rank: rankOfPid.get(pid) }))
    .filter((x): x is { pid: number; rank: number } => x.rank !== undefined)
    .sort((a, b) => a.rank - b.rank);
  const ranksPresent = views.map((v) => v.rank);

  // World size: distributedInfo (or the run config), else the ranks present.
  const worldSize: Finding<number> =
    model.meta.worldSize !== undefined
      ? {
          value: model.meta.worldSize,
          text: String(model.meta.worldSize),
          evidence:
            model.meta.format === 'kineto' ? "the trace's distributedInfo world_size" : "the run's recorded world size",
          confidence: 'high',
        }
      : ranksPresent.length > 0
        ? {
            value: Math.max(...ranksPresent) + 1,
            text: String(Math.max(...ranksPresent) + 1),
            evidence: `the ranks present (${ranksPresent.join(', ')}); the trace records no world size`,
            confidence: 'medium',
          }
        : unknown('no ranks in the trace');

  const ref = ranksWith[0];
  if (!ref) {
    const none = 'no collectives in the trace';
    return {
      worldSize,
      processGroups: unknown(none),
      dataParallel: { value: 'none', text: 'no data parallelism seen', evidence: none, confidence: 'low' },
      collectiveDtype: unknown(none),
      gradientDtype: unknown(none),
      commHook: unknown(none),
      buckets: unknown(none),
      bucketCapMb: unknown(none),
      paramCount: unknown(none),
    };
  }
  const colls = collByPid.get(ref.pid)!.sort((a, b) => a.startNs - b.startNs);
  const view = views.find((v) => v.rank === ref.rank);

  // Process groups, over the whole trace of the reference rank.
  const groups = new Map<string, ProcessGroupFound>();
  for (const s of colls) {
    const name = typeof s.args?.group === 'string' && s.args.group ? s.args.group : 'default';
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { name, collectives: 0, ops: [] }));
    g.collectives++;
    const op = typeof s.args?.op === 'string' ? s.args.op : s.name;
    if (!g.ops.includes(op)) g.ops.push(op);
    if (typeof s.args?.groupSize === 'number') g.size = s.args.groupSize;
  }
  const groupList = [...groups.values()];
  const named = groupList.some((g) => g.name !== 'default');
  if (!named) for (const g of groupList) g.size ??= worldSize.value ?? undefined;
  const processGroups: Finding<ProcessGroupFound[]> = {
    value: groupList,
    text: groupList
      .map((g) => `${g.name === 'default' ? 'the default group' : `group ${g.name}`}${g.size ? ` of ${g.size}` : ''}`)
      .join(', '),
    evidence: named
      ? `the collectives' process group args on rank ${ref.rank}`
      : `${preKineto ? noArgs : "no process group in the collectives' args"}: all collectives taken as the default group of all ranks`,
    confidence: named ? 'high' : 'low',
  };

  // Per step: the collectives that start in it (the whole trace when it has no steps).
  const steps: StepCollectives[] = (view?.steps.length ? view.steps : [undefined]).map((st) => {
    const startNs = st ? st.startNs : -Infinity;
    const endNs = st ? st.endNs : Infinity;
    return { step: st?.step, startNs, endNs, list: colls.filter((s) => s.startNs >= startNs && s.startNs < endNs) };
  });
  const withColl = steps.filter((s) => s.list.length > 0);
  const count = (s: StepCollectives, op: string) => s.list.filter((c) => c.args?.op === op).length;
  const arMode = mode(withColl.map((s) => count(s, 'allReduce')));
  const rep =
    [...withColl].reverse().find((s) => count(s, 'allReduce') === arMode.value) ?? withColl[withColl.length - 1];
  const stepsText = (n: number) => `${n} step${n === 1 ? '' : 's'}`;
  const base: Pick<JobSettings, 'referenceRank' | 'step' | 'worldSize' | 'processGroups' | 'backend'> = {
    referenceRank: ref.rank,
    step: rep?.step,
    worldSize,
    processGroups,
    backend: backendOf(model, colls, ref.rank),
  };
  if (!rep) {
    const none = `no collectives inside rank ${ref.rank}'s steps`;
    return {
      ...base,
      dataParallel: unknown(none),
      collectiveDtype: unknown(none),
      gradientDtype: unknown(none),
      commHook: unknown(none),
      buckets: unknown(none),
      bucketCapMb: unknown(none),
      paramCount: unknown(none),
    };
  }
  // Digested ranks (analysis/rankDigest.ts) say which of NAME_SIGNS their names match.
  const signs = views.some((v) => v.partial)
    ? NAME_SIGNS.map((_, k) => views.some((v) => v.partial?.digest.names[k]))
    : nameSignsOf(model);
  const hasName = (re: RegExp) => {
    const k = NAME_SIGNS.indexOf(re);
    if (k < 0) throw new Error(`jobSettings: ${re} is not one of NAME_SIGNS`);
    return signs[k];
  };
  const where = `rank ${ref.rank}${rep.step !== undefined ? `, step ${rep.step}` : ''}${withColl.length > 1 ? ` (the pattern of ${arMode.count} of ${stepsText(withColl.length)})` : ''}`;

  // The layout from the groups; the data-parallel settings below read only the DP groups' collectives.
  const layout = layoutOfGroups(rep.list, worldSize.value, hasName(MOE_OPS), where);
  if (layout?.value) {
    // Every rank's model-parallel groups (each TP group is another group name), read the same way in the same step.
    const mp = new Set(layout.value.modelParallelGroups);
    for (const { pid, rank } of ranksWith) {
      if (rank === ref.rank) continue;
      const st = views.find((v) => v.rank === rank)?.steps.find((x) => x.step === rep.step);
      const list = (collByPid.get(pid) ?? []).filter((c) => !st || (c.startNs >= st.startNs && c.startNs < st.endNs));
      for (const g of layoutOfGroups(list, worldSize.value, hasName(MOE_OPS), where)?.value?.modelParallelGroups ?? [])
        mp.add(g);
    }
    layout.value.modelParallelGroups = [...mp];
    rep.list = rep.list.filter(
      (c) => !mp.has(typeof c.args?.group === 'string' && c.args.group ? c.args.group : 'default'),
    );
  }
  const ar = count(rep, 'allReduce'),
    rs = count(rep, 'reduceScatter'),
    ag = count(rep, 'allGather'),
    bc = count(rep, 'broadcast');

  // DDP, FSDP or ZeRO: from the collectives of a step, and the module names when present.
  let dataParallel: Finding<DataParallel>;
  if (rs > 0 && ag > 0) {
    const full = ag >= 1.5 * rs;
    const fsdpNamed = hasName(FSDP_NAME);
    dataParallel = {
      value: full ? 'fsdp-full-shard' : 'fsdp-shard-grad-op',
      text: full ? 'FSDP ShardingStrategy.FULL_SHARD (ZeRO-3)' : 'FSDP ShardingStrategy.SHARD_GRAD_OP (ZeRO-2)',
      evidence: `${rs} reduce-scatter(s) and ${ag} all-gather(s) per step (${where})${full ? ': parameters gathered again for backward' : ': parameters gathered once per step'}${fsdpNamed ? '; FullyShardedDataParallel ops in the trace' : ''}`,
      confidence: fsdpNamed ? 'high' : 'medium',
    };
  } else if (ar > 0 && hasName(ZERO_NAME)) {
    dataParallel = {
      value: 'zero1',
      text: 'ZeroRedundancyOptimizer (ZeRO-1)',
      evidence: `${ar} gradient all-reduce(s) and ${bc + ag} broadcast/all-gather(s) per step (${where}); ZeroRedundancyOptimizer.step in the trace`,
      confidence: 'high',
    };
  } else if (ar > 0) {
    const ddpNamed = hasName(DDP_NAME);
    dataParallel = {
      value: 'ddp',
      text: 'DistributedDataParallel',
      evidence: `${ar} all-reduce(s) per step (${where})${ddpNamed ? '; DistributedDataParallel.forward and the DDP reducer in the trace' : ''}`,
      confidence: ddpNamed ? 'high' : 'medium',
    };
  } else {
    dataParallel = {
      value: 'none',
      text: 'no gradient all-reduce or reduce-scatter',
      evidence: `the steps' collectives are ${[...new Set(rep.list.map((c) => String(c.args?.op ?? c.name)))].join(', ')} (${where}): no data-parallel gradient exchange`,
      confidence: 'medium',
    };
  }

  // The gradient collectives of the representative step, in launch order.
  const gradOp =
    dataParallel.value === 'fsdp-full-shard' || dataParallel.value === 'fsdp-shard-grad-op'
      ? 'reduceScatter'
      : 'allReduce';
  const grads = rep.list.filter((c) => c.args?.op === gradOp);
  const dtypes = grads.map((c) => (typeof c.args?.dtype === 'string' ? c.args.dtype : undefined));
  const known = dtypes.filter((d): d is string => d !== undefined);

  // The compress hook's cast before each all-reduce (Kineto and pre-Kineto alike).
  const casts: CastCount =
    gradOp !== 'allReduce'
      ? { launchers: 0, withCast: 0 }
      : view?.partial
        ? (view.partial.digest.casts.get(rep.step) ?? { launchers: 0, withCast: 0 })
        : castsBeforeAllReduces(model, ref.pid, [rep])[0];
  const castHook = casts.launchers > 0 && casts.withCast >= Math.max(1, 0.8 * casts.launchers);
  const powerSgd = gradOp === 'allReduce' && hasName(POWERSGD_OPS) && ar >= 2;

  let collectiveDtype: Finding<string>;
  if (known.length > 0) {
    const byShort = new Map<string, number>();
    for (const d of known) byShort.set(shortDtype(d), (byShort.get(shortDtype(d)) ?? 0) + 1);
    const [top] = [...byShort.entries()].sort((a, b) => b[1] - a[1]);
    collectiveDtype = {
      value: top[0],
      text: top[0],
      evidence: `the dtype (the \`dtype\` or \`Input type\` arg, or the NCCL kernel's name) of ${known.length} of ${grads.length} gradient ${gradOp === 'allReduce' ? 'all-reduce' : 'reduce-scatter'}(s) (${where})${byShort.size > 1 ? `; also ${[...byShort.keys()].filter((k) => k !== top[0]).join(', ')}` : ''}`,
      confidence: known.length === grads.length && byShort.size === 1 ? 'high' : 'medium',
    };
  } else if (castHook) {
    collectiveDtype = {
      value: '16-bit',
      text: '16-bit (fp16 or bf16)',
      evidence: `${preKineto ? noArgs : 'no dtype in the collectives’ args'}; inferred from the cast before ${casts.withCast} of ${casts.launchers} all-reduces (aten::to, then aten::div_), as fp16_compress_hook and bf16_compress_hook do`,
      confidence: 'medium',
    };
  } else
    collectiveDtype = unknown(
      preKineto ? noArgs : 'no dtype in the gradient collectives’ args',
      `${preKineto ? noArgs : 'no dtype in the gradient collectives’ args'}; no cast before the all-reduces either, so nothing says the wire dtype`,
    );
  const wire = collectiveDtype.value;
  const wire16 = wire === 'fp16' || wire === 'bf16' || wire === '16-bit';

  let commHook: Finding<CommHook>;
  if (powerSgd)
    commHook = {
      value: 'powerSGD_hook',
      text: 'powerSGD_hook',
      evidence: `PowerSGD's orthogonalization (QR) ops in the trace beside ${ar} all-reduces per step (P and Q of each bucket)`,
      confidence: 'medium',
    };
  else if (gradOp !== 'allReduce' || ar === 0)
    commHook = {
      value: 'none',
      text: 'none',
      evidence: 'no DDP gradient all-reduce: a DDP comm hook does not apply',
      confidence: 'low',
    };
  else if (castHook) {
    const which: CommHook =
      wire === 'fp16' ? 'fp16_compress_hook' : wire === 'bf16' ? 'bf16_compress_hook' : '16-bit compress';
    commHook = {
      value: which,
      text: which === '16-bit compress' ? 'fp16_compress_hook or bf16_compress_hook' : which,
      evidence: `${casts.withCast} of ${casts.launchers} gradient all-reduces follow a cast (aten::to → aten::_to_copy) and a division (aten::div_) on the same thread, as the compress hooks do${which === '16-bit compress' ? `; ${preKineto ? 'the pre-Kineto trace records no dtypes' : 'no dtype in the args'}, so fp16 and bf16 cannot be told apart` : `; the all-reduces carry ${wire}`}`,
      confidence: which === '16-bit compress' ? 'medium' : 'high',
    };
  } else if (wire16)
    commHook = {
      value: 'none',
      text: 'none (the gradients themselves are 16-bit)',
      evidence: `the all-reduces carry ${wire} with no cast before them: the model's gradients are ${wire}, no compress hook`,
      confidence: 'medium',
    };
  else
    commHook = {
      value: 'none',
      text: 'none',
      evidence: `no cast before the ${casts.launchers} gradient all-reduce launches${wire ? ` and they carry ${wire}` : ''}: DDP's default all-reduce`,
      confidence: casts.launchers > 0 ? 'medium' : 'low',
    };

  // The gradients' own dtype: the wire's, unless a compress hook casts them down (then fp32, PyTorch's default).
  const gradientDtype: Finding<string> =
    commHook.value === 'fp16_compress_hook' ||
    commHook.value === '16-bit compress' ||
    commHook.value === 'bf16_compress_hook'
      ? {
          value: 'fp32',
          text: 'fp32',
          evidence:
            'the compress hook casts the gradients down to 16 bits, so they are wider; fp32 is PyTorch’s default',
          confidence: 'low',
        }
      : wire
        ? {
            value: wire,
            text: wire,
            evidence: 'the dtype the gradient collectives carry, with no cast before them',
            confidence: collectiveDtype.confidence,
          }
        : unknown(collectiveDtype.evidence);
  const gradBytesPerElement = dtypeSize(gradientDtype.value);

  // Buckets (DDP) and the parameter count (the gradient elements reduced per step).
  const elems = grads.map(elementsOf);
  const allSized = elems.length > 0 && elems.every((e) => e !== undefined);
  let buckets: Finding<BucketsFound>;
  let bucketCapMb: Finding<number>;
  let paramCount: Finding<number>;
  const noSizes = preKineto ? noArgs : 'the gradient collectives have no sizes in their args';
  if (dataParallel.value === 'ddp' || dataParallel.value === 'zero1') {
    const perStep = ar;
    const sizesBytes =
      allSized && gradBytesPerElement && commHook.value !== 'powerSGD_hook'
        ? (elems as number[]).map((e) => e * gradBytesPerElement)
        : undefined;
    buckets =
      commHook.value === 'powerSGD_hook'
        ? unknown(
            `PowerSGD all-reduces two or three tensors per bucket (uncompressed 1-D gradients, P, Q): ${ar} per step (${where}) do not give the bucket count`,
          )
        : {
            value: { perStep, ...(sizesBytes ? { sizesBytes } : {}) },
            text: `${perStep} bucket${perStep === 1 ? '' : 's'} per step${sizesBytes ? ` (${sizesBytes.map((b) => formatBytes(b)).join(', ')})` : ''}`,
            evidence: `${ar} gradient all-reduce(s) per step (${where})${sizesBytes ? `; sizes: elements × ${gradBytesPerElement} bytes (${gradientDtype.value} gradients)` : `; ${noSizes}, so the sizes are unknown`}`,
            confidence: arMode.count === withColl.length ? 'high' : 'medium',
          };
    bucketCapMb = sizesBytes
      ? inferBucketCap(sizesBytes)
      : commHook.value === 'powerSGD_hook'
        ? unknown('PowerSGD sends low-rank factors, not the buckets: their sizes do not give the cap')
        : unknown(noSizes, `${noSizes}: the cap cannot be read from ${perStep} bucket(s) without their sizes`);
    if (commHook.value === 'powerSGD_hook')
      paramCount = unknown('PowerSGD all-reduces low-rank factors: their sizes do not give the parameter count');
    else if (allSized) {
      const n = (elems as number[]).reduce((a, b) => a + b, 0);
      paramCount = {
        value: n,
        text: groupDigits(Math.round(n)),
        evidence: `the elements of the ${grads.length} gradient all-reduce(s) of one step (${where}), counted at their own dtype (${wire})${commHook.value !== 'none' ? `, not at the ${gradientDtype.value} of the gradients: the hook halves the bytes, not the elements` : ''}`,
        confidence: 'high',
      };
    } else paramCount = unknown(noSizes);
  } else if (gradOp === 'reduceScatter') {
    buckets = unknown('FSDP reduce-scatters per module, not in DDP buckets');
    bucketCapMb = unknown('FSDP has no bucket_cap_mb');
    paramCount = allSized
      ? {
          value: (elems as number[]).reduce((a, b) => a + b, 0),
          text: groupDigits(Math.round((elems as number[]).reduce((a, b) => a + b, 0))),
          evidence: `the input elements of the ${grads.length} reduce-scatter(s) of one step (${where})`,
          confidence: 'high',
        }
      : unknown(noSizes);
  } else {
    const none = 'no gradient exchange';
    buckets = unknown(none);
    bucketCapMb = unknown(none);
    paramCount = unknown(none);
  }
  return {
    ...base,
    dataParallel,
    collectiveDtype,
    gradientDtype,
    commHook,
    buckets,
    bucketCapMb,
    paramCount,
    ...(layout ? { layout } : {}),
  };
}

/** The settings in one line (`settings found: DistributedDataParallel, 2 ranks, …`), known ones first. */
export function settingsLine(s: JobSettings): string {
  const parts: string[] = [];
  if (s.layout?.value) parts.push(s.layout.text);
  if (s.dataParallel.value) parts.push(s.dataParallel.text);
  if (s.worldSize.value) parts.push(`${s.worldSize.value} ranks`);
  if (s.backend?.value) parts.push(s.backend.text);
  if (s.processGroups.value && s.processGroups.value.length > 1)
    parts.push(`${s.processGroups.value.length} process groups`);
  parts.push(`collectives in ${s.collectiveDtype.value ? s.collectiveDtype.text : 'an unknown dtype'}`);
  if (s.dataParallel.value === 'ddp' || s.dataParallel.value === 'zero1') {
    parts.push(`comm hook ${s.commHook.value ? s.commHook.text : 'unknown'}`);
    if (s.buckets.value) parts.push(s.buckets.text);
    parts.push(s.bucketCapMb.value !== null ? s.bucketCapMb.text : 'bucket_cap_mb unknown');
  }
  parts.push(s.paramCount.value !== null ? `${s.paramCount.text} parameters` : 'parameter count unknown');
  return `settings found: ${parts.join('; ')}`;
}

/** The settings as rows (setting, value, confidence, evidence) for the report and the extension. */
export function settingsRows(
  s: JobSettings,
): { setting: string; value: string; confidence: Confidence; evidence: string }[] {
  const row = (setting: string, f: Finding<unknown>) => ({
    setting,
    value: f.value === null ? 'unknown' : f.text,
    confidence: f.confidence,
    evidence: f.evidence,
  });
  return [
    ...(s.layout ? [row('parallel layout', s.layout)] : []),
    row('data parallelism', s.dataParallel),
    row('world size', s.worldSize),
    row('process groups', s.processGroups),
    ...(s.backend ? [row('backend', s.backend)] : []),
    row('collective dtype', s.collectiveDtype),
    row('gradient dtype', s.gradientDtype),
    row('comm hook', s.commHook),
    row('DDP buckets', s.buckets),
    row('bucket_cap_mb', s.bucketCapMb),
    row('parameters', s.paramCount),
  ];
}
