/**
 * Counter tracks whose name alone does not say what they count: their names (shared by the
 * runtime that writes them and the viewer that shows them) and a line saying what they are.
 */

/**
 * The counter track of the process's CPU over each step, in cores busy (RankStep.processCpuNs ÷
 * the step's wall time), on rank 0's process: the whole run's process (all ranks), not rank 0's.
 */
export const PROCESS_CPU_COUNTER = 'process CPU busy (all ranks)';

const NOTES: ReadonlyMap<string, string> = new Map([
  [PROCESS_CPU_COUNTER, "the whole process (every rank, the GPU driver), not rank 0's"],
]);

/** What the counter track named `name` counts, where its name does not say (one tooltip line, ≤ 60 characters); undefined for the others. */
export function counterNote(name: string): string | undefined {
  return NOTES.get(name);
}
