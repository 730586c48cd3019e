#!/usr/bin/env node
/**
 * `commlens`: the headless CLI. The same engine the VS Code extension starts as a child
 * process (with `--events`, which switches stdout to the line-delimited JSON protocol of
 * runtime/protocol.ts).
 */
import { doctorCommand } from './doctor';
import { profileCommand, PROFILE_USAGE } from './profile';
import { inspectCommand, convertCommand } from './traceCommands';
import { analyzeCommand } from './analyzeCommand';
import { verifyCommand } from './verify';
import { benchCollectivesCommand } from './benchCollectivesCommand';
import { EXIT } from './protocol';
import { shouldSupervise, superviseCommand } from './supervisor';
import { takeMaxTraceBytesFlag } from '../trace/budget';

const USAGE = `usage: commlens <command> [options]

commands:
  profile [--preset NAME | --config FILE] [--events] [--runs-dir DIR]
                      train data-parallel on WebGPU ranks and write a trace
  verify <run dir> <suggestion id> [--events]
                      re-run with a suggestion's change; predicted vs measured
  analyze <trace | folder of per-rank traces> [--json] [--include-last-step] [--run ID]
                      metrics (HTA definitions) and suggestions for a trace
  inspect <file | folder> [--json]
                      what a trace holds: format, ranks, tracks, slices, flows, steps
  convert <in> <out.pftrace | out.json>
                      convert between Perfetto protobuf and Chrome JSON
  bench-collectives [--world-size N] [--link NAME] [--max-mib M]
                      nccl-tests-style sweep of the collectives over a link
  doctor [--json]     print the WebGPU adapter, its features and limits
  help                this text

options of analyze, inspect and convert:
  --max-trace-bytes N memory a trace may take to open (default 2G; also
                      COMMLENS_MAX_TRACE_BYTES); see docs/limits.md
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  const rest = takeMaxTraceBytesFlag(args, (m) => process.stderr.write(`commlens: ${m}\n`));
  if (rest === undefined) return EXIT.badInput;
  if (cmd !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    const text = cmd === 'profile' ? PROFILE_USAGE : USAGE;
    process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    return EXIT.ok;
  }
  // Training commands run in a supervised child process, so that a crash in the GPU driver
  // (how running out of memory ends on some drivers) still ends the run with its reason.
  if (shouldSupervise(cmd)) return superviseCommand(cmd!, rest, process.argv[1]);
  switch (cmd) {
    case 'profile':
      return profileCommand(rest);
    case 'doctor':
      return doctorCommand(rest);
    case 'analyze':
      return analyzeCommand(rest);
    case 'verify':
      return verifyCommand(rest);
    case 'bench-collectives':
      return benchCollectivesCommand(rest);
    case 'inspect':
      return inspectCommand(rest);
    case 'convert':
      return convertCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? EXIT.badInput : EXIT.ok;
    default:
      process.stderr.write(`commlens: unknown command '${cmd}'\n\n${USAGE}`);
      return EXIT.badInput;
  }
}

/**
 * Exits once stdout and stderr are flushed: process.exit() right after a large write to a
 * pipe would cut the output at the pipe's buffer (64 KiB), e.g. `analyze --full-json | jq`.
 */
function exitAfterFlush(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (e: unknown) => {
    process.stderr.write(`commlens: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(EXIT.failure);
  },
);
