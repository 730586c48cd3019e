/**
 * Re-running an external run executes the command its run record holds, and that record
 * is a file in the workspace anyone could have written. So the command is shown whole and
 * confirmed first (a modal), unless the user said "always for this run" before; that
 * approval lives in the extension's own state (globalState), never in the workspace, and
 * covers exactly one run folder, command and working folder. Pure Node, no `vscode`.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { readValidRunRecord } from './runsStore';

/** globalState key of the approvals: { [approvalKey]: true }. */
export const RERUN_APPROVALS_KEY = 'commlens.approvedExternalReruns';

/** The approval of re-running `command` in `cwd` for the run in `runDir`: any change of the three needs a new one. */
export function approvalKey(runDir: string, command: string, cwd: string): string {
  return createHash('sha256')
    .update(JSON.stringify([path.resolve(runDir), command, cwd]))
    .digest('hex');
}

/** True when `approvals` (as stored; anything) holds `key`, as an own property set to true. */
export function isApproved(approvals: unknown, key: string): boolean {
  return (
    typeof approvals === 'object' &&
    approvals !== null &&
    Object.hasOwn(approvals, key) &&
    (approvals as Record<string, unknown>)[key] === true
  );
}

/** `approvals` with `key` added (a fresh null-prototype object; at most `max` entries kept, newest last). */
export function withApproval(approvals: unknown, key: string, max = 200): Record<string, true> {
  const out: Record<string, true> = Object.create(null) as Record<string, true>;
  if (typeof approvals === 'object' && approvals !== null) {
    for (const k of Object.keys(approvals))
      if (/^[0-9a-f]{64}$/.test(k) && k !== key && (approvals as Record<string, unknown>)[k] === true) out[k] = true;
  }
  out[key] = true;
  const keys = Object.keys(out);
  for (const k of keys.slice(0, Math.max(0, keys.length - max))) delete out[k];
  return out;
}

/**
 * The confirmation text: which run, the whole command, where it runs, and where it came from;
 * with `env`, the variables set for it (COMMLENS_APPLY when a suggestion is verified).
 */
export function rerunConfirmation(
  runId: string,
  runDir: string,
  command: string,
  cwd: string,
  env?: string,
): { message: string; detail: string } {
  return {
    message: `Re-run ${runId}? This runs a shell command taken from the run's record.`,
    detail: `Command (run with /bin/sh -c):\n${command}\n\nIn folder:\n${cwd}\n\n${env ? `With:\n${env}\n\n` : ''}From: ${path.join(runDir, 'commlens-run.json')}\n\nRun it only if you recognise it.`,
  };
}

/** The external run whose traces `files` are (its run folder holds them, directly or in kineto/), or undefined. */
export function externalRunOfTraces(files: string[]): string | undefined {
  if (files.length === 0) return undefined;
  for (const dir of [path.dirname(files[0]), path.dirname(path.dirname(files[0]))]) {
    const s = readValidRunRecord(dir).record?.source;
    if (s?.kind === 'external') return dir;
  }
  return undefined;
}
