#!/usr/bin/env node
/* global process, console */
// A stand-in for `torchrun` on machines without PyTorch or GPUs (CI). Like torchrun it
// starts --nproc-per-node worker processes with RANK / LOCAL_RANK / WORLD_SIZE set; each
// worker then does what python/commlens_torch does at the end of its profiling window:
// writes its rank's Kineto trace to $COMMLENS_TRACE_DIR/rank-<rank>.pt.trace.json.gz.
// The traces are the real ones of shared/fixtures/kineto/hta-sampled (2 ranks of an
// NCCL job, written by PyTorch's profiler), so the import and analysis see what a real
// job leaves behind.
// Usage: node standin-torchrun.mjs --nproc-per-node N [--exit-code C] [--] script.py ...
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '..', '..', '..', 'shared', 'fixtures', 'kineto', 'hta-sampled');

if (process.argv[2] === '--worker') {
  const rank = Number(process.env.RANK);
  const dir = process.env.COMMLENS_TRACE_DIR;
  const source = join(fixtures, `sampled_rank-${rank % 2}.json.gz`);
  if (!existsSync(source)) {
    console.error(`[rank ${rank}] fixture missing: ${source}`);
    process.exit(1);
  }
  console.log(`[rank ${rank}/${process.env.WORLD_SIZE}] training ${process.argv.slice(3).join(' ')}`);
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `rank-${rank}.pt.trace.json.gz`);
  copyFileSync(source, target);
  console.log(`[commlens_torch] rank ${rank}: wrote ${target}`);
  process.exit(0);
}

const args = process.argv.slice(2);
let nproc = 1;
let exitCode = 0;
const rest = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--nproc-per-node' || a === '--nproc_per_node') nproc = Number(args[++i]);
  else if (a.startsWith('--nproc-per-node=') || a.startsWith('--nproc_per_node=')) nproc = Number(a.split('=')[1]);
  else if (a === '--exit-code') exitCode = Number(args[++i]);
  else if (a !== '--') rest.push(a);
}
if (!Number.isInteger(nproc) || nproc < 1) {
  console.error(`standin-torchrun: --nproc-per-node must be a positive integer, got ${nproc}`);
  process.exit(2);
}
if (!process.env.COMMLENS_TRACE_DIR) {
  console.error('standin-torchrun: COMMLENS_TRACE_DIR is not set (start it from CommLens: Profile External Command…)');
  process.exit(2);
}
let failed = 0;
await Promise.all(
  Array.from(
    { length: nproc },
    (_, rank) =>
      new Promise((done) => {
        const env = { ...process.env, RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(nproc) };
        const w = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', ...rest], {
          env,
          stdio: 'inherit',
        });
        w.on('close', (code) => {
          if (code !== 0) failed++;
          done();
        });
      }),
  ),
);
process.exit(failed > 0 ? 1 : exitCode);
