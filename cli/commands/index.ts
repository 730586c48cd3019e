/**
 * Every command of the CLI, in the order `commlens help` lists them. Each command's
 * module exports its usage and its run function; this list is the only place that names
 * them all.
 */
import type { Command } from '../command';
import { profile } from './profile';
import { verify } from './verify';
import { analyzeCmd } from './analyze';
import { inspect } from './inspect';
import { convert } from './convert';
import { reduce } from './reduce';
import { benchCollectives } from './benchCollectives';
import { doctorCmd } from './doctor';
import { compare } from './compare';

export type { Command };

export const COMMANDS: readonly Command[] = [
  profile,
  verify,
  analyzeCmd,
  compare,
  inspect,
  convert,
  reduce,
  benchCollectives,
  doctorCmd,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
