/**
 * One analysis in a fresh process, for bench:analysis: `node out/bench/analysisChild.js
 * <trace files>` loads the modules, then times importKinetoFolder + analyze once — the
 * first and only run in the process, as `commlens analyze` does it — and prints the times
 * as one JSON line. Module loading happens before the clock starts (HTA's figure does not
 * count Python importing its modules either); it is reported apart as `startupMs`.
 */
import { importKinetoFolder } from '../trace/kineto';
import { analyze } from '../analysis/index';

export interface ColdSample {
  /** Process start to the clock starting: Node's own startup plus loading CommLens' modules. */
  startupMs: number;
  loadMs: number;
  analyzeMs: number;
  /** load + analyze, the figure compared with HTA's wall time. */
  totalMs: number;
  /** CPU time of the process over load + analyze, all threads (gunzip, GC and compiler threads too). */
  cpuMs: number;
}

async function main(files: string[]): Promise<ColdSample> {
  const startupMs = performance.now();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const model = await importKinetoFolder(files);
  const t1 = performance.now();
  const a = analyze(model);
  const t2 = performance.now();
  const c = process.cpuUsage(c0);
  if (a.ranks.length !== files.length) throw new Error(`${files.length} file(s) analysed to ${a.ranks.length} rank(s)`);
  return { startupMs, loadMs: t1 - t0, analyzeMs: t2 - t1, totalMs: t2 - t0, cpuMs: (c.user + c.system) / 1000 };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (s) => process.stdout.write(`${JSON.stringify(s)}\n`),
    (e: unknown) => {
      process.stderr.write(`analysisChild: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
