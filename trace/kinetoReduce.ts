/**
 * `reduce` for Kineto traces: from one rank's scanned columns (trace/kinetoScan.ts), a much
 * smaller Kineto JSON document holding only the events the per-rank metrics read — GPU work
 * (kernels, memcpy, memset, GPU annotations), the runtime calls that launched it (joined by
 * `correlation`), ProfilerStep#N, the comm launchers (nccl:*, record_param_comms, c10d::*)
 * with their collective args, the profiler's Trace span, memory instants and metadata —
 * with the args the analysis reads. It stays a valid Kineto trace, so `commlens analyze`
 * (and Holistic Trace Analysis) read it like the original, and the temporal breakdown,
 * overlap, kernel-type and idle breakdowns and the collectives come out the same.
 * What is dropped: CPU ops other than steps and comm launchers, user annotations, the args
 * nobody reads (shapes of ordinary ops, launch parameters).
 */
import { idValue, PH, type KinetoColumns } from './kinetoScan';

const GPU = new Set(['kernel', 'gpu_memcpy', 'gpu_memset', 'gpu_user_annotation']);
const RUNTIME = new Set([
  'cuda_runtime',
  'cuda_driver',
  'runtime',
  'hip_runtime',
  'xpu_runtime',
  'privateuse1_runtime',
  'mtia_runtime',
]);
const KEEP_NAME = /^(ProfilerStep\s*#\s*\d+|nccl:|record_param_comms$|c10d::|\[memory\]$)/;
const PH_TEXT: Record<number, string> = { [PH.X]: 'X', [PH.M]: 'M', [PH.i]: 'i', [PH.I]: 'I' };

export interface ReduceResult {
  json: string;
  eventsIn: number;
  eventsOut: number;
}

/** The reduced document of one rank (see the module comment). */
export function reduceKinetoColumns(c: KinetoColumns): ReduceResult {
  const str = (id: number) => (id >= 0 ? c.strings[id] : undefined);
  const gpuCorrelations = new Set<number>();
  for (let i = 0; i < c.count; i++) {
    const cat = str(c.cat[i]);
    if (cat !== undefined && GPU.has(cat) && Number.isFinite(c.correlation[i])) gpuCorrelations.add(c.correlation[i]);
  }
  const parts: string[] = [];
  for (let i = 0; i < c.count; i++) {
    const ph = c.ph[i];
    const phText = PH_TEXT[ph];
    if (phText === undefined) continue;
    const cat = str(c.cat[i]);
    const name = str(c.name[i]) ?? '';
    const keep =
      ph === PH.M ||
      (cat !== undefined && GPU.has(cat)) ||
      cat === 'Trace' ||
      (cat !== undefined && RUNTIME.has(cat) && gpuCorrelations.has(c.correlation[i])) ||
      KEEP_NAME.test(name);
    if (!keep) continue;
    const e: Record<string, unknown> = { ph: phText };
    if (cat !== undefined) e.cat = cat;
    e.name = name;
    // Absent: NaN, written null, as before the columns held numbers by code.
    e.pid = idValue(c, c.pid[i]) ?? NaN;
    e.tid = idValue(c, c.tid[i]) ?? NaN;
    if (Number.isFinite(c.ts[i])) e.ts = c.ts[i];
    if (Number.isFinite(c.dur[i])) e.dur = c.dur[i];
    const args: Record<string, unknown> = { ...(c.extraArgs.get(i) ?? {}) };
    if (Number.isFinite(c.correlation[i])) args.correlation = c.correlation[i];
    if (Number.isFinite(c.externalId[i])) args['External id'] = c.externalId[i];
    if (Number.isFinite(c.stream[i])) args.stream = c.stream[i];
    e.args = args;
    parts.push(JSON.stringify(e));
  }
  const head = Object.entries(c.top).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return {
    json: `{${[...head, `"traceEvents": [\n${parts.join(',\n')}\n]`].join(', ')}}\n`,
    eventsIn: c.count,
    eventsOut: parts.length,
  };
}
