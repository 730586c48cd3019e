/**
 * The one message protocol between the extension host and the trace webview. Both
 * sides import this file. Requests carry an `id`; the response to a request carries
 * the same `id` in `replyTo`.
 *
 * (Initial version; the webview work refines it. Keep it types-only plus tiny helpers.)
 */

/** Messages the webview sends to the extension. */
export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'applySuggestion'; id: number; suggestionId: string }
  | { type: 'openLocation'; id: number; path: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** Messages the extension sends to the webview. */
export type HostToWebview =
  | { type: 'trace'; title: string; /** trace/binary.ts encoding, transferred */ data: ArrayBuffer }
  | { type: 'analysis'; /** analysis results for the loaded trace (shape owned by analysis/) */ analysis: unknown }
  | { type: 'error'; title: string; message: string }
  | { type: 'reply'; replyTo: number; ok: boolean; message?: string };
