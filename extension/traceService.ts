/**
 * The one place where the extension reaches the trace and analysis code (trace/,
 * analysis/, webview/html.ts). Everything else in extension/ goes through these
 * functions (and tests can hand `loadAndAnalyze` another backend).
 *
 * No `vscode` here: the functions run in the extension host and in plain Node tests.
 */
import * as path from 'node:path';
import type { TraceModel } from '../trace/model';
import { loadTraceFile } from '../trace/load';
import { importKinetoFolder } from '../trace/kineto';
import { encodeTrace, type EncodeOptions } from '../trace/binary';
import { analyze } from '../analysis/index';
import { renderWebviewHtml, type WebviewHtmlOptions } from '../webview/html';
import type { AnalysisView } from '../webview/protocol';
import { toAnalysisView } from './analysisView';

/** What the host needs from the other parts of CommLens. */
export interface TraceBackend {
  /** trace/load.ts: reads a Perfetto / Chrome JSON / Kineto file (by content and name). */
  loadTraceFile(file: string): Promise<TraceModel>;
  /** trace/kineto.ts: one model from the per-rank Kineto files of one job. */
  importKinetoFolder(files: string[]): Promise<TraceModel>;
  /** analysis/index.ts: metrics and ranked suggestions, as the webview shows them. */
  analyze(model: TraceModel): AnalysisView;
  /** trace/binary.ts: the transfer encoding the webview decodes. */
  encodeTrace(model: TraceModel, options?: EncodeOptions): ArrayBuffer;
  /** webview/html.ts: the webview's page. */
  renderWebviewHtml(opts: WebviewHtmlOptions): string;
}

export const backend: TraceBackend = {
  loadTraceFile,
  importKinetoFolder,
  analyze: (model) => toAnalysisView(analyze(model)),
  encodeTrace,
  renderWebviewHtml,
};

/** What the trace panel shows: a model with its analysis, or why there is none. */
export type LoadedTrace =
  | { ok: true; title: string; model: TraceModel; analysis: AnalysisView | undefined; analysisError?: string }
  | { ok: false; title: string; message: string };

/** The name of a job from its traces' folder: the run's, for the kineto/ folder of a CommLens run. */
export function jobName(dir: string): string {
  const base = path.basename(dir);
  return base === 'kineto' ? path.basename(path.dirname(dir)) : base;
}

/** The panel title of a trace: the file's name, or the job's with its number of ranks. */
export function traceTitle(files: string[]): string {
  return files.length === 1 ? path.basename(files[0]) : `${jobName(path.dirname(files[0]))} (${files.length} ranks)`;
}

/**
 * Loads one trace file, or several per-rank Kineto files as one job, and analyses it.
 * Never throws: a file that cannot be read or parsed gives `ok: false` with a message
 * naming the file and what the parser said (which includes the offset).
 */
export async function loadAndAnalyze(files: string[], be: TraceBackend = backend): Promise<LoadedTrace> {
  const title =
    files.length === 1 ? path.basename(files[0]) : `${jobName(path.dirname(files[0]))} (${files.length} ranks)`;
  let model: TraceModel;
  try {
    model = files.length === 1 ? await be.loadTraceFile(files[0]) : await be.importKinetoFolder(files);
  } catch (e) {
    const where = files.length === 1 ? files[0] : `${files.length} files in ${path.dirname(files[0])}`;
    const reason = (e as Error)?.message ?? String(e);
    // The readers name the file and the byte offset themselves; do not say the path twice.
    return {
      ok: false,
      title,
      message: files.some((f) => reason.includes(f))
        ? `Cannot open the trace: ${reason}`
        : `Cannot open ${where}: ${reason}`,
    };
  }
  try {
    return { ok: true, title, model, analysis: be.analyze(model) };
  } catch (e) {
    return { ok: true, title, model, analysis: undefined, analysisError: (e as Error)?.message ?? String(e) };
  }
}

/** Copies the encoding into an ArrayBuffer of its own (postMessage transfers whole buffers). */
export function toArrayBuffer(data: ArrayBuffer | Uint8Array): ArrayBuffer {
  if (data instanceof ArrayBuffer) return data;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}
