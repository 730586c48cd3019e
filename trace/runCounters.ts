/**
 * Counter tracks whose name alone does not say what they count: their names (shared by the
 * runtime that writes them and the viewer that shows them) and a line saying what they are.
 */

/**
 * The counter track of the process's CPU over each step, in cores busy (RankStep.processCpuNs ÷
 * the step's wall time), on rank 0's process: the whole run's process (all ranks), not rank 0's.
 */
export const PROCESS_CPU_COUNTER = 'process CPU busy (all ranks)';

/**
 * The counter track of the CPU the machine's other programs used over each step, in cores (the
 * machine's busy time, RankStep.machineCpuNs, less the run's process's, ÷ the step's wall time), on
 * rank 0's process: on a software GPU they take the cores the ranks' kernels run on, so a step
 * measured beside them is slower than on a quiet machine.
 */
export const OTHER_CPU_COUNTER = 'other programs CPU busy';

/**
 * OTHER_CPU_COUNTER over the part of each step rank 0 was blocked on its collectives (its `wait …`
 * spans), and over the rest of the step: what the machine's other programs take while the run
 * waits and while it works. A part shorter than BLOCKED_MIN_WINDOW_NS gives no sample that step.
 */
export const OTHER_CPU_WAITING_COUNTER = 'rank 0 waiting: other programs CPU';
export const OTHER_CPU_WORKING_COUNTER = 'rank 0 working: other programs CPU';
/** The shortest window a split sample is taken over (the machine's CPU time counts in 10 ms ticks per core). */
export const BLOCKED_MIN_WINDOW_NS = 20e6;

const NOTES: ReadonlyMap<string, string> = new Map([
  [PROCESS_CPU_COUNTER, "the whole process (every rank, the GPU driver), not rank 0's"],
  [OTHER_CPU_COUNTER, "the machine's other programs, beside this run"],
  [OTHER_CPU_WAITING_COUNTER, 'other programs, while rank 0 waits on collectives'],
  [OTHER_CPU_WORKING_COUNTER, 'other programs, while rank 0 is not waiting'],
]);

/** What the counter track named `name` counts, where its name does not say (one tooltip line, ≤ 60 characters); undefined for the others. */
export function counterNote(name: string): string | undefined {
  return NOTES.get(name);
}
