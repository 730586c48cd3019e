/**
 * A small, self-contained analysis for the harness page (analysis/ lives on another branch):
 * the Holistic Trace Analysis temporal breakdown per rank and per step, computed from the
 * model's GPU slices, and two suggestions whose predictions follow directly from that
 * breakdown. Labelled as a harness estimate wherever it shows; the extension uses analysis/.
 */
import type { TraceModel } from '../../../trace/model';
import type { AnalysisView, RankBreakdownView, StepBreakdownView, SuggestionView } from '../../protocol';

type Interval = [number, number];

/** Union of intervals, sorted and merged. */
function union(iv: Interval[]): Interval[] {
  const s = iv.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b); else out.push([a, b]);
  }
  return out;
}
const length = (u: Interval[]): number => u.reduce((acc, [a, b]) => acc + b - a, 0);
function intersect(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i][0], b[j][0]), hi = Math.min(a[i][1], b[j][1]);
    if (hi > lo) out.push([lo, hi]);
    if (a[i][1] < b[j][1]) i++; else j++;
  }
  return out;
}
const clip = (u: Interval[], lo: number, hi: number): Interval[] => u.map(([a, b]) => [Math.max(a, lo), Math.min(b, hi)] as Interval).filter(([a, b]) => b > a);

/**
 * Per rank: span = last GPU slice end − first GPU slice start; compute = |∪ kernels|;
 * idle = span − |∪ all GPU slices|; non-compute = span − idle − compute;
 * overlap % = 100·|compute ∩ comm| / |comm|; exposed communication = |comm| − |compute ∩ comm|.
 * Per step, the same within each step slice of the rank.
 */
export function harnessAnalysis(model: TraceModel): AnalysisView {
  const ranks: RankBreakdownView[] = [];
  for (const p of [...model.processes].sort((a, b) => (a.rank ?? a.pid) - (b.rank ?? b.pid))) {
    const gpuTracks = new Set(model.tracks.filter((t) => t.pid === p.pid && t.gpu && t.type === 'slice').map((t) => t.id));
    const hostTracks = new Set(model.tracks.filter((t) => t.pid === p.pid && !t.gpu).map((t) => t.id));
    const comp: Interval[] = [], comm: Interval[] = [], all: Interval[] = [], steps: { step: number; lo: number; hi: number }[] = [];
    for (const s of model.slices) {
      const iv: Interval = [s.startNs, s.startNs + Math.max(0, s.durNs)];
      if (gpuTracks.has(s.track)) {
        all.push(iv);
        if (s.category === 'kernel') comp.push(iv);
        if (s.category === 'collective') comm.push(iv);
      } else if (hostTracks.has(s.track) && s.category === 'step') {
        steps.push({ step: typeof s.args?.step === 'number' ? s.args.step : steps.length, lo: iv[0], hi: iv[1] });
      }
    }
    const uc = union(comp), um = union(comm), ua = union(all);
    if (ua.length === 0) continue;
    const spanLo = ua[0][0], spanHi = ua[ua.length - 1][1];
    const breakdown = (lo: number, hi: number): StepBreakdownView & { spanNs: number; commNs: number } => {
      const c = clip(uc, lo, hi), mm = clip(um, lo, hi), a = clip(ua, lo, hi);
      const overlapped = length(intersect(c, mm));
      return { step: -1, spanNs: hi - lo, computeNs: length(c), overlappedCommNs: overlapped, exposedCommNs: length(mm) - overlapped, idleNs: hi - lo - length(a), commNs: length(mm) };
    };
    const whole = breakdown(spanLo, spanHi);
    ranks.push({
      rank: p.rank ?? p.pid, idleNs: whole.idleNs, computeNs: whole.computeNs, nonComputeNs: whole.spanNs - whole.idleNs - whole.computeNs,
      spanNs: whole.spanNs, overlapPct: whole.commNs > 0 ? (100 * whole.overlappedCommNs) / whole.commNs : 0, exposedCommNs: whole.exposedCommNs,
      steps: steps.sort((a, b) => a.lo - b.lo).map((st) => { const b = breakdown(st.lo, st.hi); return { step: st.step, computeNs: b.computeNs, overlappedCommNs: b.overlappedCommNs, exposedCommNs: b.exposedCommNs, idleNs: b.idleNs }; }),
    });
  }
  const stepSlices = model.slices.filter((s) => s.category === 'step');
  const stepTimeNs = stepSlices.length ? stepSlices.reduce((a, s) => a + s.durNs, 0) / stepSlices.length : 0;
  const stepsPerRank = Math.max(1, ...ranks.map((r) => r.steps?.length ?? 1));
  const exposedPerStep = ranks.length ? ranks.reduce((a, r) => a + r.exposedCommNs, 0) / ranks.length / stepsPerRank : 0;
  const collectives = model.slices.map((s, i) => ({ s, i })).filter(({ s }) => s.category === 'collective');
  const bytesPerStep = collectives.reduce((a, { s }) => a + (typeof s.args?.bytes === 'number' ? s.args.bytes : 0), 0) / Math.max(1, ranks.length) / stepsPerRank;
  // Evidence: the collectives with the most exposed time (longest first), up to 24.
  const evidence = collectives.sort((a, b) => b.s.durNs - a.s.durNs).slice(0, 24).map(({ i }) => i);
  const suggestions: SuggestionView[] = [];
  if (exposedPerStep > 0.05 * stepTimeNs) {
    suggestions.push({
      id: 'overlap-buckets', title: 'Overlap gradient allReduce with backward (bucketed, as DDP does)', kind: 'overlap',
      predicted: { baselineStepTimeNs: stepTimeNs, stepTimeNs: stepTimeNs - 0.8 * exposedPerStep, exposedCommNs: 0.2 * exposedPerStep, bytesPerStep },
      risk: 'low', source: 'PyTorch DDP bucketing (harness estimate: hides 80 % of the exposed communication)',
      evidence: { sliceIndexes: evidence }, configChange: { strategy: 'ddp-overlap', bucketCapMb: 25 },
      detail: 'Each bucket is all-reduced as soon as its gradients are ready, under the rest of backward.',
    });
    suggestions.push({
      id: 'fp16-compress', title: 'Compress gradients to fp16 before allReduce', kind: 'compression',
      predicted: { baselineStepTimeNs: stepTimeNs, stepTimeNs: stepTimeNs - 0.5 * exposedPerStep, exposedCommNs: 0.5 * exposedPerStep, bytesPerStep: bytesPerStep / 2 },
      risk: 'medium', source: 'PyTorch fp16_compress_hook (harness estimate: half the bytes, half the exposed time)',
      evidence: { sliceIndexes: evidence }, configChange: { compression: 'fp16' },
    });
  }
  return { ranks, suggestions, stepTimeNs, warnings: ['Analysis computed by the harness (a stand-in for analysis/), not by CommLens\' analysis.'] };
}
