/**
 * Checks on what a trace webview asks the host to do. The webview renders names and
 * suggestions from trace files, so its messages are treated as untrusted input: every
 * field is type-checked, and a file it asks to open must be a regular file inside the
 * workspace or the folder of the trace it shows. Pure Node, no `vscode`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isInside } from './runsStore';

/** A suggestion id as the advisor makes them (a letter or digit, then letters, digits and `-_.:+`; at most 200: never an option). */
export function isSuggestionId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 200 && /^[A-Za-z0-9][A-Za-z0-9_.:+-]*$/.test(v);
}

/** A message id the webview uses to match replies. */
export function isMessageId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/**
 * The file an `openLocation` request may open: `requested` (absolute, or relative to
 * `baseDir`) resolved through symbolic links, a regular file inside one of `roots`.
 */
export function locationTarget(
  requested: unknown,
  baseDir: string,
  roots: string[],
): { ok: true; path: string } | { ok: false; message: string } {
  if (typeof requested !== 'string' || requested.length === 0 || requested.length > 4096 || requested.includes('\0'))
    return { ok: false, message: 'openLocation: expected a file path' };
  const target = path.isAbsolute(requested) ? requested : path.join(baseDir, requested);
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch {
    return { ok: false, message: `${target} does not exist` };
  }
  const realRoots = roots.flatMap((r) => {
    try {
      return [fs.realpathSync(r)];
    } catch {
      return [];
    }
  });
  if (!realRoots.some((r) => isInside(r, real)))
    return {
      ok: false,
      message: `${target} is outside the workspace and the trace's folder, so CommLens does not open it`,
    };
  if (!fs.statSync(real).isFile()) return { ok: false, message: `${target} is not a regular file` };
  return { ok: true, path: real };
}

/** At most this many tracks, and this many kept slices, in one view request. */
const MAX_VIEW_TRACKS = 100_000;
const MAX_VIEW_KEEP = 2000;

/**
 * A `requestView` message checked field by field (webview/protocol.ts step 10): finite
 * times in order, a positive resolution, and track and slice lists of whole numbers.
 */
export function viewRequestOf(
  raw: Record<string, unknown>,
):
  | { ok: true; request: { startNs: number; endNs: number; nsPerPx: number; tracks?: number[]; keep?: number[] } }
  | { ok: false; message: string } {
  const { startNs, endNs, nsPerPx, tracks, keep } = raw;
  if (
    typeof startNs !== 'number' ||
    typeof endNs !== 'number' ||
    !Number.isFinite(startNs) ||
    !Number.isFinite(endNs) ||
    !(endNs >= startNs)
  )
    return { ok: false, message: 'requestView: expected finite startNs ≤ endNs (nanoseconds)' };
  if (typeof nsPerPx !== 'number' || !Number.isFinite(nsPerPx) || nsPerPx <= 0)
    return { ok: false, message: 'requestView: expected nsPerPx, a positive number of nanoseconds per pixel' };
  const wholeList = (v: unknown, max: number): v is number[] =>
    Array.isArray(v) && v.length <= max && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
  if (tracks !== undefined && !wholeList(tracks, MAX_VIEW_TRACKS))
    return { ok: false, message: `requestView: tracks must be a list of at most ${MAX_VIEW_TRACKS} track numbers` };
  if (keep !== undefined && !wholeList(keep, MAX_VIEW_KEEP))
    return { ok: false, message: `requestView: keep must be a list of at most ${MAX_VIEW_KEEP} slice indexes` };
  return {
    ok: true,
    request: { startNs, endNs, nsPerPx, ...(tracks ? { tracks } : {}), ...(keep ? { keep } : {}) },
  };
}
