/**
 * The HTA pair (../shared/fixtures/kineto/hta-sampled) and a copy with known changes, for the
 * Compare tests and the differential test against HTA's trace diff. On both ranks of the copy:
 * - every event of the most frequent compute kernel (on rank 0) is removed;
 * - the second most frequent is renamed (`suffix` appended);
 * - every `ncclKernel_SendRecv…` kernel takes `ncclDurUs` µs, ending where it ended.
 * Step markers, launches and everything else are untouched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { fixturesDir } from '../../helpers/paths';

export interface HtaMutation {
  dirA: string;
  dirB: string;
  removed: string;
  renamed: string;
  suffix: string;
  ncclDurUs: number;
}

interface Ev {
  ph?: string;
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
}

export function mutateHtaPair(tmp: string): HtaMutation {
  const src = fixturesDir('kineto', 'hta-sampled');
  const dirA = path.join(tmp, 'hta-a'),
    dirB = path.join(tmp, 'hta-b');
  fs.mkdirSync(dirA, { recursive: true });
  fs.mkdirSync(dirB, { recursive: true });
  const files = fs.readdirSync(src).filter((f) => f.endsWith('.json.gz'));
  const docs = files.map(
    (f) => JSON.parse(gunzipSync(fs.readFileSync(path.join(src, f))).toString('utf8')) as { traceEvents: Ev[] },
  );
  // The kernels to remove and rename: the two most frequent compute kernels of rank 0.
  const counts = new Map<string, number>();
  for (const e of docs[0].traceEvents)
    if (e.ph === 'X' && e.cat === 'kernel' && e.name && !e.name.startsWith('nccl'))
      counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  const [removed, renamed] = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([n]) => n);
  const suffix = ' [renamed]';
  const ncclDurUs = 1000;
  files.forEach((f, i) => {
    fs.copyFileSync(path.join(src, f), path.join(dirA, f));
    const doc = docs[i];
    doc.traceEvents = doc.traceEvents
      .filter((e) => !(e.cat === 'kernel' && e.name === removed))
      .map((e) => {
        if (e.cat === 'kernel' && e.name === renamed) return { ...e, name: `${renamed}${suffix}` };
        if (e.cat === 'kernel' && e.name?.startsWith('ncclKernel_SendRecv') && typeof e.dur === 'number') {
          if (e.dur <= ncclDurUs) throw new Error(`fixture changed: a SendRecv kernel of ${e.dur} µs`);
          return { ...e, ts: e.ts! + e.dur - ncclDurUs, dur: ncclDurUs };
        }
        return e;
      });
    // Written as Kineto writes it, with a space after each colon: HTA finds a file's rank with
    // the regular expression "rank":\s+(\d+).
    fs.writeFileSync(path.join(dirB, f), gzipSync(JSON.stringify(doc, null, 1)));
  });
  return { dirA, dirB, removed, renamed, suffix, ncclDurUs };
}
