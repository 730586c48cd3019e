/**
 * The one place where the extension reaches the trace and analysis code (trace/,
 * analysis/, webview/html.ts). Everything else in extension/ goes through these
 * functions, so wiring the real implementations is a change to this file only.
 *
 * No `vscode` here: the functions run in the extension host and in plain Node tests.
 */
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { TraceModel } from '../trace/model';
import { loadTraceFile } from '../trace/load';
import { importKinetoFolder } from '../trace/kineto';
import { analyze } from '../analysis/index';
import { toAnalysisView } from './analysisView';

/** What the host needs from the other parts of CommLens. */
export interface TraceBackend {
  /** trace/load.ts: reads a Perfetto / Chrome JSON / Kineto file (by content and name). */
  loadTraceFile(file: string): Promise<TraceModel>;
  /** trace/kineto.ts: one model from the per-rank Kineto files of one job. */
  importKinetoFolder(files: string[]): Promise<TraceModel>;
  /** analysis/index.ts: metrics and ranked suggestions for a model, as the webview shows them. */
  analyze(model: TraceModel): unknown;
  /** trace/binary.ts: the transfer encoding the webview decodes. */
  encodeModel(model: TraceModel): ArrayBuffer | Uint8Array;
  /** webview/html.ts: the webview's page. */
  renderWebviewHtml(opts: { scriptUri: string; styleUri: string; cspSource: string; nonce: string }): string;
}

/** Thrown when a piece of CommLens that the host needs is not part of this build. */
export class MissingPieceError extends Error {
  constructor(piece: string, cause: unknown) {
    super(`CommLens was built without ${piece} (${(cause as Error)?.message ?? String(cause)}). Rebuild with 'npm run build'.`);
    this.name = 'MissingPieceError';
  }
}

// Pieces not yet merged into this tree (trace/binary.ts and webview/html.ts come with the
// webview branch) are looked up at run time, by a computed name through createRequire so
// the bundler leaves the call alone. Once they are in the tree, import them statically.
function lookUp<T>(relModule: string, exportName: string): T {
  const req = createRequire(__filename);
  let mod: Record<string, unknown>;
  try {
    mod = req(path.join(__dirname, '..', relModule)) as Record<string, unknown>;
  } catch (e) {
    throw new MissingPieceError(`${relModule}.ts`, e);
  }
  const f = mod[exportName];
  if (typeof f !== 'function') throw new MissingPieceError(`${relModule}.ts ${exportName}()`, new Error('export not found'));
  return f as T;
}

export const backend: TraceBackend = {
  loadTraceFile,
  importKinetoFolder,
  analyze: (model) => toAnalysisView(analyze(model)),
  encodeModel(model) {
    return lookUp<(m: TraceModel) => ArrayBuffer | Uint8Array>('trace/binary', 'encodeModel')(model);
  },
  renderWebviewHtml(opts) {
    return lookUp<TraceBackend['renderWebviewHtml']>('webview/html', 'renderWebviewHtml')(opts);
  },
};

/** What the trace panel shows: a model with its analysis, or why there is none. */
export type LoadedTrace =
  | { ok: true; title: string; model: TraceModel; analysis: unknown; analysisError?: string }
  | { ok: false; title: string; message: string };

/** Files of a folder that look like per-rank PyTorch profiler traces. */
export function isKinetoFileName(name: string): boolean {
  return /\.json(\.gz)?$/i.test(name) && !/^commlens.*\.json$/i.test(name) && name !== 'summary.json';
}

/**
 * Loads one trace file, or several per-rank Kineto files as one job, and analyses it.
 * Never throws: a file that cannot be read or parsed gives `ok: false` with a message
 * naming the file and what the parser said (which includes the offset).
 */
export async function loadAndAnalyze(files: string[], be: TraceBackend = backend): Promise<LoadedTrace> {
  const title = files.length === 1 ? path.basename(files[0]) : `${path.basename(path.dirname(files[0]))} (${files.length} ranks)`;
  let model: TraceModel;
  try {
    model = files.length === 1 ? await be.loadTraceFile(files[0]) : await be.importKinetoFolder(files);
  } catch (e) {
    const where = files.length === 1 ? files[0] : `${files.length} files in ${path.dirname(files[0])}`;
    const reason = (e as Error)?.message ?? String(e);
    // The readers name the file and the byte offset themselves; do not say the path twice.
    return { ok: false, title, message: files.some((f) => reason.includes(f)) ? `Cannot open the trace: ${reason}` : `Cannot open ${where}: ${reason}` };
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
