/**
 * The load other programs put on the machine a CommLens run was measured on (issue #19), and
 * what it leaves a rank's host loops. On a software GPU (lavapipe) the ranks' kernels and host
 * loops (codecs, DiLoCo's outer step, 1-bit Adam's host optimizer) run on the machine's CPU
 * cores beside whatever else runs there.
 *
 * What other programs want, E: the cores they used while rank 0 waited on its collectives (the
 * run's split counter, trace/runCounters.ts OTHER_CPU_WAITING_COUNTER, median over the steady
 * steps), else while the run's process slept at its start (the host probe's idle window,
 * runtime/hostProbe.ts LoadProbe). With every rank's host thread busy at once, an even share of
 * the C cores among those W threads and E busy ones leaves each C / (W + E) of a core. The host
 * probe's own measure of that share (runtime/hostShare.ts) is relative to one thread alone, which
 * beside such a load is itself slowed: beside two busy threads on 2 cores it read 0.52–0.99 where
 * an even share gives 0.51 (2026-12-06, gpt-mini and mlp-small runs); so the replay takes the
 * smaller of the two (whatIf.ts hostCoreShare).
 *
 * A model tried first and dropped (docs/benchmarks.md, 2026-12-06, night): that a run waiting on
 * the wire gets cores back from other programs when it computes, which a change that waits less
 * would lose. The split counters measured it directly: beside two busy threads, while a gpt-mini
 * DDP baseline worked, other programs took 0.63 cores of 2, what an even share among the ranks'
 * kernel threads and theirs gives (0.64): nothing to lose.
 */
import { sharingSpeedupOf } from './sharing';

/** Below this many cores of other programs the machine is taken as quiet. */
export const LOAD_MIN_CORES = 0.25;

export interface OtherLoad {
  /** The machine's cores. */
  cores: number;
  /** What other programs took when the run left them the machine (E, at most `cores`). */
  idleOtherCores: number;
  /** Where E comes from: the run's waits (split counter), or the host probe's idle window. */
  source: 'waits' | 'probe';
}

/** What the load is read from (the replay context's parts, so that tests can give them directly). */
export interface LoadInputs {
  hostCores?: number;
  /** The host probe's idle window (runtime/hostProbe.ts LoadProbe.idleOtherCores). */
  idleOtherCores?: number;
  /** The run's `other programs CPU busy` counter over whole steps, and while rank 0 waited, medians over the steady steps. */
  otherProgramsCores?: number;
  otherWhileWaitingCores?: number;
  /** The host probe's speed-up of a rank alone (runtime/dispatchProbe.ts sharing): the ranks share the CPU's compute. */
  sharingSpeedup?: number;
  onGpu: boolean;
}

/**
 * The load beside a run on a software GPU, undefined on a quiet machine (below LOAD_MIN_CORES), on
 * GPUs, or where the run's probe shows no sharing of the compute; `missing` says why a loaded run
 * cannot give it.
 */
export function otherLoadOf(i: LoadInputs): OtherLoad | { missing: string } | undefined {
  if (i.onGpu || sharingSpeedupOf(i.sharingSpeedup) === undefined) return undefined;
  const waits = i.otherWhileWaitingCores;
  const idle = waits ?? i.idleOtherCores;
  if (idle === undefined)
    return i.otherProgramsCores !== undefined && i.otherProgramsCores >= LOAD_MIN_CORES
      ? {
          missing:
            'the run recorded neither what they took while it waited nor a probe of the load at its start (runs recorded before 2026-12-06, night)',
        }
      : undefined;
  if (!(idle >= LOAD_MIN_CORES)) return undefined;
  if (!i.hostCores) return { missing: 'the run recorded no core count' };
  return {
    cores: i.hostCores,
    idleOtherCores: Math.min(i.hostCores, idle),
    source: waits !== undefined ? 'waits' : 'probe',
  };
}

/** The share of a core each of `threads` host threads busy at once gets beside the load: C / (threads + E), at most 1. */
export function hostShareUnderLoad(load: OtherLoad, threads: number): number {
  return Math.min(1, load.cores / (Math.max(1, threads) + load.idleOtherCores));
}

/** Says where the load's figure comes from, for the notes. */
export function otherLoadText(load: OtherLoad): string {
  return `other programs took ${load.idleOtherCores.toFixed(2)} of ${load.cores} cores ${load.source === 'waits' ? 'while rank 0 waited on its collectives' : "while the run's process slept at its start"}`;
}

/**
 * A share of a core measured on the quiet machine, beside other programs' load: a thread that got
 * q of a core shared the C cores with C / q threads' worth of work; E more busy cores' worth
 * leaves it C / (C / q + E) = q·C / (C + q·E).
 */
export function quietShareUnderLoad(load: OtherLoad, quietShare: number): number {
  return (quietShare * load.cores) / (load.cores + quietShare * load.idleOtherCores);
}
