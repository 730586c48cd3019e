/**
 * What the commlens_torch helper recorded in a PyTorch job's traces (trace/torchJob.ts
 * `TorchJobRecord`: the change applied from COMMLENS_APPLY, each DistributedDataParallel's
 * bucket cap and comm hook), read from the imported model: one rank's file carries it in
 * meta.info.commlensTorch, a merged job in each of meta.info.ranks. Every rank runs the same
 * script, so the first rank that has it speaks for the job.
 */
import type { TraceModel } from '../trace/model';
import { checkTorchApply, type TorchDdpRecord, type TorchJobRecord } from '../trace/torchJob';

type Loose = Record<string, unknown>;
const isObj = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);

function ddpOf(v: unknown): TorchDdpRecord | undefined {
  if (!isObj(v)) return undefined;
  const out: TorchDdpRecord = {};
  if (typeof v.bucket_cap_mb === 'number' && Number.isFinite(v.bucket_cap_mb)) out.bucket_cap_mb = v.bucket_cap_mb;
  if (typeof v.comm_hook === 'string' || v.comm_hook === null) out.comm_hook = v.comm_hook;
  if (Array.isArray(v.bucket_sizes) && v.bucket_sizes.every((x) => typeof x === 'number'))
    out.bucket_sizes = v.bucket_sizes as number[];
  const applied = v.applied === undefined ? undefined : checkTorchApply(v.applied);
  if (applied && 'apply' in applied) out.applied = applied.apply;
  return out;
}

/** The job record commlens_torch wrote into the traces of `model`, checked field by field; undefined when none. */
export function torchJobOf(model: TraceModel): TorchJobRecord | undefined {
  const info = model.meta.info as Loose | undefined;
  const candidates = [
    info?.commlensTorch,
    ...(Array.isArray(info?.ranks) ? info.ranks : []).map((r) => (isObj(r) ? r.commlensTorch : undefined)),
  ];
  const raw = candidates.find(isObj);
  if (!raw) return undefined;
  const out: TorchJobRecord = {};
  if (typeof raw.version === 'string') out.version = raw.version;
  if (typeof raw.torch === 'string') out.torch = raw.torch;
  const apply = raw.apply === undefined ? undefined : checkTorchApply(raw.apply);
  if (apply && 'apply' in apply) out.apply = apply.apply;
  if (Array.isArray(raw.ddp)) out.ddp = raw.ddp.map(ddpOf).filter((d): d is TorchDdpRecord => d !== undefined);
  return out;
}

/** One line saying what the job ran with: `DDP bucket_cap_mb 100, comm hook fp16_compress_hook (applied: {...})`. */
export function describeTorchJob(job: TorchJobRecord): string {
  const ddps = (job.ddp ?? []).map(
    (d) =>
      `DDP bucket_cap_mb ${d.bucket_cap_mb ?? 'unknown'}, comm hook ${d.comm_hook ?? 'none (fp32 all-reduce)'}${d.bucket_sizes ? `, ${d.bucket_sizes.length} bucket(s)` : ''}`,
  );
  return `${ddps.length ? ddps.join('; ') : 'no DistributedDataParallel recorded'}${job.torch ? ` (PyTorch ${job.torch})` : ''}${job.apply ? `; applied from COMMLENS_APPLY: ${JSON.stringify(job.apply)}` : ''}`;
}
