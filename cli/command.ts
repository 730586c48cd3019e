/** What every command module exports: its usage and its run function. */
import type { Io } from './output';

export interface Command {
  name: string;
  /** The command and its main options, as the global usage lists it. */
  synopsis: string;
  /** What it does, in one line. */
  summary: string;
  /** The full usage `commlens <name> --help` prints. */
  usage: string;
  run(args: string[], io?: Io): Promise<number>;
  /**
   * Runs the command here until it would load its inputs, where it calls `beforeLoad` first (which
   * may throw to stop it, nothing written yet). A command that can be answered from the parse cache
   * (`analyze`) has it: main.ts tries it before starting a child Node with a bigger heap (cli/heap.ts).
   */
  runUntilLoad?(args: string[], beforeLoad: () => void, io?: Io): Promise<number>;
}
