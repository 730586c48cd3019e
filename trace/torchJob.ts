/**
 * PyTorch jobs run by CommLens (an external command whose script imports the commlens_torch
 * helper, python/commlens_torch): the environment variables the helper reads, the change it
 * applies from COMMLENS_APPLY (checked here the same way the helper checks it), what it
 * records in each rank's trace (the top-level "commlens_torch" object), and the launcher's
 * spelling, which follows the installed PyTorch: torchrun takes `--nproc_per_node` before
 * 2.0 and `--nproc-per-node` from 2.0 (1.13 rejects the hyphenated form).
 * Shared by the CLI (`commlens verify` on an external run), the analysis and the extension.
 */
import { execFile } from 'node:child_process';

/** The folder every rank writes its trace into. */
export const TRACE_DIR_ENV = 'COMMLENS_TRACE_DIR';
/** The change commlens_torch applies to every DistributedDataParallel the script builds (JSON). */
export const APPLY_ENV = 'COMMLENS_APPLY';

/** The comm hooks commlens_torch registers, with the name PyTorch gives each. */
export const TORCH_HOOKS = {
  fp16: 'fp16_compress_hook',
  bf16: 'bf16_compress_hook',
  powersgd: 'powerSGD_hook',
} as const;
export type TorchHook = keyof typeof TORCH_HOOKS;

/** A change commlens_torch can apply (python/commlens_torch: parse_apply). */
export interface TorchApply {
  bucket_cap_mb?: number;
  comm_hook?: TorchHook;
  powersgd_rank?: number;
  powersgd_start_iter?: number;
}

const APPLY_KEYS = ['bucket_cap_mb', 'comm_hook', 'powersgd_rank', 'powersgd_start_iter'] as const;

/**
 * Checks a change for COMMLENS_APPLY the way commlens_torch does (so a bad one is refused
 * before a job is launched): returns the change, or the problem in words.
 */
export function checkTorchApply(v: unknown): { apply: TorchApply } | { problem: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length === 0)
    return { problem: `expected a non-empty JSON object with any of ${APPLY_KEYS.join(', ')}` };
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(APPLY_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0)
    return { problem: `unknown key(s) ${unknown.join(', ')}; commlens_torch applies ${APPLY_KEYS.join(', ')}` };
  const apply: TorchApply = {};
  if (Object.hasOwn(o, 'bucket_cap_mb')) {
    const c = o.bucket_cap_mb;
    if (typeof c !== 'number' || !Number.isFinite(c) || c <= 0)
      return {
        problem: `bucket_cap_mb must be a positive number of MiB (e.g. 25, PyTorch's default), got ${JSON.stringify(c)}`,
      };
    apply.bucket_cap_mb = c;
  }
  if (Object.hasOwn(o, 'comm_hook')) {
    const h = o.comm_hook;
    if (typeof h !== 'string' || !Object.hasOwn(TORCH_HOOKS, h))
      return {
        problem: `comm_hook ${JSON.stringify(h)} is not one commlens_torch applies; use one of ${Object.keys(TORCH_HOOKS).join(', ')}`,
      };
    apply.comm_hook = h as TorchHook;
  }
  for (const [k, low] of [
    ['powersgd_rank', 1],
    ['powersgd_start_iter', 2],
  ] as const) {
    if (!Object.hasOwn(o, k)) continue;
    if (apply.comm_hook !== 'powersgd') return { problem: `${k} goes with "comm_hook": "powersgd"` };
    const n = o[k];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < low)
      return { problem: `${k} must be an integer of at least ${low}, got ${JSON.stringify(n)}` };
    apply[k] = n;
  }
  return { apply };
}

/** One DistributedDataParallel as commlens_torch recorded it. */
export interface TorchDdpRecord {
  bucket_cap_mb?: number;
  comm_hook?: string | null;
  /** Bytes of each bucket DDP built, when PyTorch reported them. */
  bucket_sizes?: number[];
  /** The change applied to it (COMMLENS_APPLY). */
  applied?: TorchApply;
}

/** What commlens_torch records in a rank's trace (top-level "commlens_torch"; the importer keeps it as meta.info.commlensTorch). */
export interface TorchJobRecord {
  version?: string;
  /** torch.__version__ of the job. */
  torch?: string;
  /** The change COMMLENS_APPLY asked for. */
  apply?: TorchApply;
  ddp?: TorchDdpRecord[];
}

/** A PyTorch version string (`1.13.0a0+gitunknown`, `2.3.1+cu121`) as [major, minor], or undefined. */
export function parseTorchVersion(v: string): [number, number] | undefined {
  const m = /^\s*(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** torchrun's option for the processes per node: `--nproc_per_node` before PyTorch 2.0, `--nproc-per-node` from 2.0 (and when unknown). */
export function nprocPerNodeFlag(torchVersion: string | undefined): '--nproc_per_node' | '--nproc-per-node' {
  const v = torchVersion === undefined ? undefined : parseTorchVersion(torchVersion);
  return v && v[0] < 2 ? '--nproc_per_node' : '--nproc-per-node';
}

/** The external command offered when none was given: torchrun on two processes, spelt for the installed PyTorch. */
export function defaultExternalCommand(torchVersion: string | undefined, script = 'train.py'): string {
  return `torchrun ${nprocPerNodeFlag(torchVersion)} 2 ${script}`;
}

/**
 * When `command` spells torchrun's option the way the installed PyTorch rejects, what to
 * write instead; else undefined. Only the wrong spelling is looked at (nothing is rewritten).
 */
export function launcherSpellingProblem(command: string, torchVersion: string | undefined): string | undefined {
  if (torchVersion === undefined || parseTorchVersion(torchVersion) === undefined) return undefined;
  const want = nprocPerNodeFlag(torchVersion);
  const wrong = want === '--nproc_per_node' ? '--nproc-per-node' : undefined;
  if (!wrong || !new RegExp(`(^|\\s)${wrong}(=|\\s|$)`).test(command)) return undefined;
  return `PyTorch ${torchVersion} is installed here: its torchrun takes ${want} (the ${wrong} spelling came with PyTorch 2.0)`;
}

const versions = new Map<string, Promise<string | undefined>>();

/**
 * torch.__version__ of `python` (default `python3` on PATH), asked once per interpreter and
 * kept for the process's life; undefined when it has no PyTorch (or cannot be started).
 */
export function torchVersion(python = 'python3', env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  let p = versions.get(python);
  if (!p) {
    p = new Promise((resolve) => {
      execFile(
        python,
        ['-c', 'import torch; print(torch.__version__)'],
        { env, timeout: 60_000, windowsHide: true },
        (err, stdout) => {
          const v = String(stdout ?? '').trim();
          resolve(err || !parseTorchVersion(v) ? undefined : v);
        },
      );
    });
    versions.set(python, p);
  }
  return p;
}
