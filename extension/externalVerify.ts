/**
 * "Apply & re-run" on an external (PyTorch) run: the job's own command, from its run record,
 * is shown whole and confirmed (rerunGuard.ts), then re-launched in a CommLens terminal with
 * COMMLENS_APPLY naming the suggestion's change, which the commlens_torch helper applies in
 * the script; the two runs' traces are then compared (analysis/externalVerify.ts: the same
 * arithmetic and steady-state figures as `commlens verify`), comparison.json is written into
 * the re-run's folder and the verdict shown.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { analyseJob, externalComparison } from '../analysis/externalVerify';
import { APPLY_ENV, checkTorchApply } from '../trace/torchJob';
import { formatDurationNs, formatSpeedup } from '../trace/format';
import type { ExternalRunner } from './external';
import { readValidRunRecord } from './runsStore';
import { verificationViewOf } from './analysisView';
import type { VerificationView } from '../webview/protocol';
import { RERUN_APPROVALS_KEY, approvalKey, isApproved, rerunConfirmation, withApproval } from './rerunGuard';

/**
 * Asks before re-running an external run's command (unless "Always for This Run" was chosen
 * before for this run, command and folder). `env` is shown with the command. True to go on.
 */
export async function confirmExternalRerun(
  context: vscode.ExtensionContext,
  runId: string,
  runDir: string,
  command: string,
  cwd: string,
  env?: string,
): Promise<boolean> {
  const key = approvalKey(runDir, command, cwd);
  if (isApproved(context.globalState.get(RERUN_APPROVALS_KEY), key)) return true;
  const { message, detail } = rerunConfirmation(runId, runDir, command, cwd, env);
  const pick = await vscode.window.showWarningMessage(message, { modal: true, detail }, 'Run', 'Always for This Run');
  if (pick === undefined) return false;
  if (pick === 'Always for This Run')
    await context.globalState.update(RERUN_APPROVALS_KEY, {
      ...withApproval(context.globalState.get(RERUN_APPROVALS_KEY), key),
    });
  return true;
}

/**
 * Verifies suggestion `suggestionId` of the external run in `runDir`: confirm, re-run with
 * COMMLENS_APPLY, compare. Resolves with the verdict line and the re-run's trace files.
 */
export async function verifyOnExternalRun(
  context: vscode.ExtensionContext,
  external: ExternalRunner,
  runDir: string,
  suggestionId: string,
  status?: (message: string, busy: boolean) => void,
): Promise<{ ok: boolean; message?: string; traceFiles?: string[]; verification?: VerificationView }> {
  const { record, problems } = readValidRunRecord(runDir);
  const s = record?.source;
  if (!record || s?.kind !== 'external')
    return {
      ok: false,
      message: `${path.basename(runDir)} cannot be re-run: ${problems.length ? `its record is not valid: ${problems.join('; ')}` : 'it is not an external run'}`,
    };
  status?.(`Analysing ${record.runId}…`, true);
  const baseTraces = fs.existsSync(path.join(runDir, 'kineto')) ? path.join(runDir, 'kineto') : runDir;
  let base: Awaited<ReturnType<typeof analyseJob>>;
  try {
    base = await analyseJob([baseTraces]);
  } catch (e) {
    return { ok: false, message: `cannot analyse ${record.runId}: ${(e as Error).message}` };
  }
  const sg = base.analysis.suggestions.find((x) => x.id === suggestionId);
  const checked = sg?.torchApply ? checkTorchApply(sg.torchApply) : undefined;
  if (!sg || !checked || !('apply' in checked))
    return {
      ok: false,
      message: sg
        ? `'${suggestionId}' is not a change commlens_torch can apply: make it in the training script${sg.pytorchHint ? ` (${sg.pytorchHint})` : ''} and profile the job again.`
        : `${record.runId} has no suggestion '${suggestionId}'.`,
    };
  const apply = checked.apply;
  const env = `${APPLY_ENV}=${JSON.stringify(apply)}`;
  if (!(await confirmExternalRerun(context, record.runId, runDir, s.command, s.cwd, env)))
    return { ok: false, message: 'not re-run: the command was not confirmed' };
  status?.(`Re-running ${record.runId} with ${env}…`, true);
  const r = await external.run(s.command, s.cwd, { apply });
  if (!r) return { ok: false, message: 'not started: an external command is already running' };
  if (r.result.exitCode !== 0 || r.result.traceFiles.length === 0) {
    const how = r.result.signal ? `was stopped (${r.result.signal})` : `exited with code ${r.result.exitCode}`;
    return { ok: false, message: `The re-run ${how}; see its terminal.` };
  }
  status?.(`Comparing ${record.runId} with the re-run…`, true);
  let comparisonText: string;
  let verification: VerificationView;
  try {
    const rerun = await analyseJob(r.result.traceFiles);
    const c = externalComparison(
      { ...sg, torchApply: apply },
      { runDir, runId: record.runId, analysis: base.analysis },
      { runDir: r.runDir, runId: path.basename(r.runDir), analysis: rerun.analysis },
    );
    fs.writeFileSync(path.join(r.runDir, 'comparison.json'), JSON.stringify(c, null, 2) + '\n');
    comparisonText =
      `${c.verdict}: predicted ${formatDurationNs(c.predicted.stepTimeNs)}/step, measured ${formatDurationNs(c.measured.stepTimeNs)}/step (${formatSpeedup(c.measuredSpeedup)} vs the baseline)` +
      (c.applied && !c.applied.ok ? `; the re-run does not show the change: ${c.applied.message}` : '');
    verification = { ...verificationViewOf(c), text: comparisonText };
  } catch (e) {
    return { ok: false, message: `cannot compare the runs: ${(e as Error).message}`, traceFiles: r.result.traceFiles };
  }
  void vscode.window.showInformationMessage(`${suggestionId}: ${comparisonText}`, 'Open Comparison').then((pick) => {
    if (pick)
      void vscode.window.showTextDocument(vscode.Uri.file(path.join(r.runDir, 'comparison.json')), {
        viewColumn: vscode.ViewColumn.Beside,
      });
  });
  return { ok: true, message: comparisonText, traceFiles: r.result.traceFiles, verification };
}
