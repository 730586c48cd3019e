/** Kineto jobs made from other jobs for tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Copies of `files` in `dir` with rank `shiftedRank`'s ProfilerStep numbers lowered by `by`, so
 * the steps the ranks share are not the last ones (a job whose steps do not line up).
 */
export function shiftedStepsJob(files: string[], dir: string, shiftedRank = 1, by = 6): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return files.map((f, i) => {
    const out = path.join(dir, path.basename(f));
    const text = fs.readFileSync(f, 'utf8');
    fs.writeFileSync(
      out,
      i === shiftedRank
        ? text.replace(/ProfilerStep#(\d+)/g, (_m, n: string) => `ProfilerStep#${Number(n) - by}`)
        : text,
    );
    return out;
  });
}
