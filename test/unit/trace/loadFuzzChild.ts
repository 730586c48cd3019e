/**
 * Child of loadFuzz.test.ts: loads one trace file the way `analyze` does (discovery, then
 * the loader, then the analysis) and exits 0 (loaded: prints the file and what it held) or
 * 2 (refused: prints the loader's message); anything else is a failure of the loaders.
 */
import { discoverTraces } from '../../../trace/discover';
import { loadRun } from '../../../trace/load';
import { TraceFormatError } from '../../../trace/errors';
import { analyze } from '../../../analysis/index';

async function main(file: string): Promise<number> {
  try {
    const found = discoverTraces([file]);
    const model = await loadRun(found.chosen);
    const a = analyze(model);
    process.stdout.write(`ok ${file}: ${model.slices.length} slices, ${a.ranks.length} ranks\n`);
    return 0;
  } catch (e) {
    // Plain Errors from the Kineto reader (invalid JSON) are bad input too; they name the file.
    process.stdout.write(`refused ${(e as Error).message}\n`);
    return e instanceof TraceFormatError ||
      /is not valid JSON|cannot read|not a PyTorch profiler/.test((e as Error).message)
      ? 2
      : 1;
  }
}

main(process.argv[2]).then((code) => process.exit(code));
