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

const NOTES: ReadonlyMap<string, string> = new Map([
  [PROCESS_CPU_COUNTER, "the whole process (every rank, the GPU driver), not rank 0's"],
  [OTHER_CPU_COUNTER, "the machine's other programs, beside this run"],
]);

/** What the counter track named `name` counts, where its name does not say (one tooltip line, ≤ 60 characters); undefined for the others. */
export function counterNote(name: string): string | undefined {
  return NOTES.get(name);
}
