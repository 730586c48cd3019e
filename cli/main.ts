#!/usr/bin/env node
/**
 * `commlens`: the headless CLI, and the process the VS Code extension starts (with
 * `--events`, stdout carries the line-delimited JSON protocol of cli/protocol.ts).
 * One entry: it finds the command, answers `--help` with that command's own usage, runs
 * training commands under the supervisor, and drains stdout before it exits.
 */
import { COMMANDS, findCommand } from './commands';
import { EXIT } from './protocol';
import { drainStdout } from './output';
import { shouldSupervise, superviseCommand } from './supervisor';
import { takeMaxTraceBytesFlag } from '../trace/budget';
import { HeapWanted, heapToRunWith, runWithHeap } from './heap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The package's version, from the package.json two folders up (dist/cli/ in the bundle and the
 * installed extension, out/cli/ in a tsc build); undefined when it is not CommLens' own.
 */
function commlensVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    return pkg.name === 'commlens' && typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

function globalUsage(): string {
  const lines = ['usage: commlens <command> [options]', '', 'commands:'];
  for (const c of COMMANDS) {
    lines.push(`  ${c.synopsis}`);
    lines.push(`${' '.repeat(22)}${c.summary}`);
  }
  lines.push(`  help [command]      this text, or a command's usage`);
  lines.push(`  --version           CommLens' version and the Node it runs on`);
  lines.push('', 'options of analyze, inspect and convert:');
  lines.push('  --max-trace-bytes N memory a trace may take to open (default 2G; also');
  lines.push('                      COMMLENS_MAX_TRACE_BYTES); see docs/limits.md');
  lines.push('', "Run 'commlens <command> --help' for a command's options.");
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  // The loading budget applies to every command that opens traces, so it is read here.
  const rest = takeMaxTraceBytesFlag(args, (m) => process.stderr.write(`commlens: ${m}\n`));
  if (rest === undefined) return EXIT.badInput;
  if (name === undefined) {
    process.stderr.write(globalUsage());
    return EXIT.badInput;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(
      `commlens ${commlensVersion() ?? '(version unknown: no package.json beside it)'} (Node ${process.version})\n`,
    );
    return EXIT.ok;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const c = rest[0] !== undefined ? findCommand(rest[0]) : undefined;
    process.stdout.write(c ? withNewline(c.usage) : globalUsage());
    return EXIT.ok;
  }
  const command = findCommand(name);
  if (!command) {
    process.stderr.write(`commlens: unknown command '${name}'\n\n${globalUsage()}`);
    return EXIT.badInput;
  }
  // Options end at `--`; a `--help` after it is an argument, not a request for help.
  const options = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (options.includes('--help') || options.includes('-h')) {
    process.stdout.write(withNewline(command.usage));
    return EXIT.ok;
  }
  // A reader that went away (`commlens analyze … | head`) is not an error of ours: stop
  // quietly. Training commands guard their streams themselves (runtime/lifeline.ts): the
  // run is then cancelled, its summary and report written.
  if (command.name !== 'profile' && command.name !== 'verify') {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(EXIT.ok);
      throw e;
    });
  }
  // A big job's analysis may run in a child Node with a heap sized from the machine (cli/heap.ts).
  const heapMb = heapToRunWith(command.name, rest);
  if (heapMb !== undefined) {
    // A job answered whole from the parse cache needs no bigger heap: a command that can tell runs
    // here first, and the child is started only when it would load what needs that heap (for
    // `analyze` of a Kineto job: whole ranks, not the digested ones).
    if (command.runUntilLoad)
      try {
        return await command.runUntilLoad(rest, () => {
          throw new HeapWanted(heapMb);
        });
      } catch (e) {
        if (!(e instanceof HeapWanted)) throw e;
      }
    const code = await runWithHeap(heapMb, process.argv[1], process.argv.slice(2));
    if (code !== -1) return code;
  }
  // Training commands run in a supervised child process, so that a crash in the GPU driver
  // (how running out of memory ends on some drivers) still ends the run with its reason.
  if (shouldSupervise(command.name)) return superviseCommand(command.name, rest, process.argv[1]);
  return command.run(rest);
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : text + '\n';
}

main(process.argv.slice(2)).then(
  async (code) => {
    await drainStdout();
    process.exit(code);
  },
  async (e: unknown) => {
    process.stderr.write(`commlens: ${(e as Error)?.stack ?? String(e)}\n`);
    await drainStdout();
    process.exit(EXIT.failure);
  },
);
