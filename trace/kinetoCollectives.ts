/**
 * NCCL kernels of a PyTorch profiler (Kineto) trace, read as collectives.
 *
 * PyTorch records what a collective was in three places, depending on its version:
 * the NCCL kernel's own args (recent Kineto: `Collective name`, `In msg nelems`,
 * `Out msg nelems`, `Group size`, `dtype`, `Process Group Name`, `Process Group Ranks`),
 * the `record_param_comms` CPU op that launched it (same keys), or only an
 * `nccl:<op>` annotation with `Input Dims` / `Input type` (older traces). The kernel name
 * (`ncclKernel_AllReduce_RING_LL_Sum_float`) always says the op, algorithm and protocol.
 */
import type { Args, ArgValue, CollectiveArgs } from './model';

/** True for the kernel names Holistic Trace Analysis classes as communication. */
export function isNcclKernelName(name: string): boolean {
  // A prefix check first (ncclKernel_…, ncclDevKernel_…, hccl…), then HTA's substring rule.
  return NCCL_PREFIX.test(name) || name.includes('ncclKernel');
}
const NCCL_PREFIX = /^(nccl|hccl|rccl)/i;

/** Bytes per element of the dtype names PyTorch writes (`Float`, `BFloat16`, `c10::Half`, `float`...). */
export function dtypeBytes(dtype: string | undefined): number | undefined {
  if (!dtype) return undefined;
  const d = dtype
    .toLowerCase()
    .replace(/^c10::/, '')
    .replace(/^torch\./, '');
  if (/^(double|float64|long|int64|uint64|complexfloat|complex64|c?long|unsigned long|f64|i64|u64)$/.test(d)) return 8;
  if (/^(float|float32|int|int32|uint32|unsigned int|f32|i32|u32)$/.test(d)) return 4;
  if (/^(half|float16|bfloat16|bf16|fp16|short|int16|uint16|c10::half|c10::bfloat16|f16|i16|u16)$/.test(d)) return 2;
  if (/^(byte|char|bool|int8|uint8|int8_t|uint8_t|unsigned char|signed char|float8.*|fp8.*|i8|u8|f8.*)$/.test(d))
    return 1;
  return undefined;
}

/**
 * Maps PyTorch's collective names (`allreduce`, `all_reduce`, `_reduce_scatter_base`,
 * `all_gather_into_tensor`, `alltoall_base`...) and NCCL kernel ops (`AllReduce`,
 * `SendRecv`...) onto CommLens' op names.
 */
export function normalizeCollectiveOp(raw: string): string {
  const k = raw
    .toLowerCase()
    .replace(/^(nccl|gloo|mpi|ucc):/, '')
    .replace(/^c10d::/, '')
    .replace(/[^a-z]/g, '');
  if (k.startsWith('allreduce')) return 'allReduce';
  if (k.includes('reducescatter')) return 'reduceScatter';
  if (k.includes('allgather')) return 'allGather';
  if (k.includes('alltoall')) return 'allToAll';
  if (k.startsWith('broadcast')) return 'broadcast';
  if (k.startsWith('reduce')) return 'reduce';
  if (k === 'sendrecv') return 'sendRecv';
  if (k.startsWith('send')) return 'send';
  if (k.startsWith('recv')) return 'recv';
  if (k.startsWith('barrier')) return 'barrier';
  if (k.startsWith('gather')) return 'gather';
  if (k.startsWith('scatter')) return 'scatter';
  return raw;
}

const NCCL_ALGORITHMS = new Set([
  'RING',
  'TREE',
  'COLLNET',
  'COLLNETDIRECT',
  'COLLNETCHAIN',
  'NVLS',
  'NVLSTREE',
  'PAT',
]);
const NCCL_PROTOCOLS = new Set(['LL', 'LL128', 'SIMPLE']);
const NCCL_REDOPS = new Set(['Sum', 'Prod', 'Min', 'Max', 'PreMulSum', 'SumPostDiv', 'Avg']);

/**
 * Op, algorithm, protocol and dtype encoded in an NCCL / RCCL kernel name, in either
 * order NCCL has used: `ncclKernel_AllReduce_RING_LL_Sum_float` (NCCL ≤ 2.18, RCCL) and
 * `ncclDevKernel_AllReduce_Sum_f32_RING_LL` (NCCL ≥ 2.19); `ncclDevKernel_Generic`,
 * `ncclDevKernel_SendRecv` carry only what they are. The C++ signature is ignored.
 */
export function parseNcclKernelName(name: string): {
  op?: string;
  algorithm?: string;
  protocol?: string;
  dtype?: string;
} {
  const m = /^(?:[a-z]+cl)(?:Dev)?Kernel_([A-Za-z0-9_]+)/i.exec(name.trim());
  if (!m) return {};
  const parts = m[1].split('_');
  const opToken = parts[0];
  const out: { op?: string; algorithm?: string; protocol?: string; dtype?: string } = {};
  if (!/^(Generic|\d+)$/.test(opToken)) out.op = normalizeCollectiveOp(opToken);
  for (let i = 1; i < parts.length; i++) {
    const t = parts[i];
    const two = i + 1 < parts.length ? `${t}${parts[i + 1]}` : '';
    if (NCCL_ALGORITHMS.has(two)) {
      out.algorithm = two;
      i++;
    } else if (NCCL_ALGORITHMS.has(t)) out.algorithm = t;
    else if (NCCL_PROTOCOLS.has(t)) out.protocol = t;
    else if (NCCL_REDOPS.has(t)) continue;
    else if (t === 't' && out.dtype) out.dtype += '_t';
    else if (/^(u?int\d+|float|double|half|bfloat16|bf16|[fiu]\d+|fp8\w*|e4m3|e5m2)$/i.test(t)) out.dtype = t;
  }
  return out;
}

function num(v: ArgValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function str(v: ArgValue | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Product of the first input's dims (`Input Dims: [[19618307]]` → 19618307). */
function firstInputElements(args: Args): number | undefined {
  const dims = args['Input Dims'];
  if (!Array.isArray(dims) || dims.length === 0 || !Array.isArray(dims[0])) return undefined;
  const first = dims[0] as ArgValue[];
  if (first.length === 0) return undefined;
  let n = 1;
  for (const d of first) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/**
 * Builds the CollectiveArgs of one NCCL kernel from the kernel's args, the args of the
 * CPU op that launched it (if found) and its name. Bytes follow nccl-tests: the size of
 * the whole buffer (the output of an all-gather, the input of a reduce-scatter).
 */
export function collectiveArgsOf(
  kernelName: string,
  kernelArgs: Args,
  launcher: { name: string; args: Args } | undefined,
  worldSize: number | undefined,
): CollectiveArgs & Args {
  const fromName = parseNcclKernelName(kernelName);
  const sources: Args[] = [kernelArgs];
  if (launcher) sources.push(launcher.args);
  const pick = (key: string): ArgValue | undefined => {
    for (const s of sources) if (s[key] !== undefined && s[key] !== null && s[key] !== '') return s[key];
    return undefined;
  };
  const collectiveName = str(pick('Collective name'));
  let op = collectiveName ? normalizeCollectiveOp(collectiveName) : undefined;
  if (!op && launcher && /^nccl:/.test(launcher.name)) op = normalizeCollectiveOp(launcher.name);
  if (!op) op = fromName.op ?? 'unknown';
  let dtype = str(pick('dtype'));
  if (!dtype && launcher) {
    const t = launcher.args['Input type'];
    if (Array.isArray(t) && typeof t[0] === 'string' && t[0]) dtype = t[0];
  }
  dtype ??= fromName.dtype;
  const inElems = num(pick('In msg nelems')) ?? (launcher ? firstInputElements(launcher.args) : undefined);
  const outElems = num(pick('Out msg nelems'));
  const size = dtypeBytes(dtype);
  let elems = inElems;
  if (op === 'allGather') elems = outElems ?? inElems;
  const groupSize = num(pick('Group size')) ?? worldSize;
  const out: CollectiveArgs & Args = { op };
  if (size !== undefined && elems !== undefined) out.bytes = elems * size;
  if (dtype) out.dtype = dtype;
  if (groupSize !== undefined) out.groupSize = groupSize;
  const group = str(pick('Process Group Name')) ?? str(pick('Process Group Description'));
  const ranks = pick('Process Group Ranks');
  if (group) out.group = group;
  else if (ranks !== undefined) out.group = typeof ranks === 'string' ? ranks : JSON.stringify(ranks);
  if (fromName.algorithm)
    out.algorithm = fromName.protocol ? `${fromName.algorithm}_${fromName.protocol}` : fromName.algorithm;
  const seq = num(pick('Seq')) ?? num(pick('seq'));
  if (seq !== undefined) out.seq = seq;
  return out;
}
