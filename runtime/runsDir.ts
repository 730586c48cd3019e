/**
 * The runs folder named by `--runs-dir`: checked and created one level at a time, so a
 * bad path (a file, a folder under /proc, one without write permission) is refused with
 * a message instead of a stack trace or a loop (Node's recursive mkdir spins on /proc).
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from './config';

function statOrUndefined(p: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new ConfigError([`--runs-dir: ${p}: a part of this path is a file, not a folder`]);
    throw new ConfigError([`--runs-dir: cannot use ${p} (${code ?? (e as Error).message})`]);
  }
}

/** Makes `dir` (and missing parents) a writable folder; returns its absolute path or throws ConfigError. */
export function prepareRunsDir(dir: string): string {
  const abs = resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  let st = statOrUndefined(cur);
  while (!st) {
    missing.unshift(cur);
    const up = dirname(cur);
    if (up === cur) throw new ConfigError([`--runs-dir: ${abs}: no part of the path exists`]);
    cur = up;
    st = statOrUndefined(cur);
  }
  if (!st.isDirectory()) {
    throw new ConfigError([
      `--runs-dir: ${cur === abs ? abs : `${cur} (in ${abs})`} is ${st.isFile() ? 'a file' : 'not a folder'}; expected a folder where runs are written (it is created when missing)`,
    ]);
  }
  try {
    accessSync(cur, constants.W_OK | constants.X_OK);
  } catch {
    throw new ConfigError([`--runs-dir: ${cur} is not writable; choose a folder you can write to`]);
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statOrUndefined(p)?.isDirectory()) continue;
      throw new ConfigError([
        `--runs-dir: cannot create ${p} (${code ?? (e as Error).message}); choose a folder on a normal file system that you can write to`,
      ]);
    }
  }
  return abs;
}
