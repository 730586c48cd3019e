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
}
