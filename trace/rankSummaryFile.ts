/**
 * A rank summary file (`<trace base name>.summary.commlens`, written by `commlens reduce`): one
 * rank of a PyTorch profiler (Kineto) job as `analyze`'s scan worker posts it (RankPayload,
 * trace/kinetoScanService.ts: the pruned packed model, `sliceOrigin`, `fullSlices` and the
 * digest), so that the reduce step can run where the traces are and only the summaries travel.
 *
 * Layout: the magic bytes (MAGIC), the format version (uint32 LE), the header's length (uint32
 * LE), the header (UTF-8 JSON: what the summary was made with and from, the body's length and
 * SHA-1), then the body: the payload serialised with node:v8, deflated. This module reads and
 * writes the bytes and checks them; it does not interpret the payload's digest (opaque here).
 * Any other magic, another version, a header that does not parse, a body of another length
 * (cut short) or another hash (corrupt) is a TraceFormatError naming the file and what would
 * be right.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { TraceFormatError } from './errors';

/** The first bytes of every summary file. */
export const SUMMARY_MAGIC = Buffer.from('\x89CommLens rank summary\r\n\x1a\n', 'latin1');
/**
 * The summary format this code reads and writes: bumped whenever the payload (the packed model,
 * the digest) changes shape, so that a summary made by another CommLens is refused, not misread.
 */
export const SUMMARY_FORMAT = 1;
/** The file name ending `commlens reduce` gives summaries. */
export const SUMMARY_SUFFIX = '.summary.commlens';

/** What a summary says about the trace it was made from. */
export interface SummarySource {
  /** The trace's file name (no folder) and its path where it was reduced. */
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
  /** The rank it was read as (undefined: the trace did not say and none was given). */
  rank?: number;
  worldSize?: number;
  backend?: string;
  /** The first event's time, epoch µs, and tensorboard_trace_handler's worker and export time (trace/discover.ts). */
  startUs?: number;
  worker?: string;
  exportMs?: number;
}

/** The summary's header. */
export interface SummaryHeader {
  /** The digest options it was made with (analysis/rankDigest.ts DigestOptions). */
  includeLastStep: boolean;
  keptSteps: number;
  /** True when the payload carries a digest (a pruned rank); false: the whole reduced rank. */
  digested: boolean;
  source: SummarySource;
  /** The body's length in bytes and its SHA-1 (hex). */
  bodyBytes: number;
  bodySha1: string;
}

const EXPECTED = `a rank summary written by this CommLens's \`commlens reduce\` (format ${SUMMARY_FORMAT}); make it again, or analyze the rank's trace`;

function fail(file: string, message: string): never {
  throw new TraceFormatError(message, { file, expected: EXPECTED });
}

/** True when `head` (a file's first bytes) starts with the summary magic. */
export function isSummaryHead(head: Uint8Array): boolean {
  if (head.length < SUMMARY_MAGIC.length) return false;
  for (let i = 0; i < SUMMARY_MAGIC.length; i++) if (head[i] !== SUMMARY_MAGIC[i]) return false;
  return true;
}

/** True when the file starts with the summary magic (false when it cannot be read). */
export function isSummaryFile(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(SUMMARY_MAGIC.length);
    return fs.readSync(fd, head, 0, head.length, 0) === head.length && isSummaryHead(head);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The summary file's bytes: magic, version, header, body (the serialised payload, deflated). */
export function encodeSummary(header: Omit<SummaryHeader, 'bodyBytes' | 'bodySha1'>, payload: Uint8Array): Buffer {
  const body = deflateRawSync(payload, { level: 6 });
  const full: SummaryHeader = {
    ...header,
    bodyBytes: body.length,
    bodySha1: createHash('sha1').update(body).digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(full), 'utf8');
  const fixed = Buffer.alloc(8);
  fixed.writeUInt32LE(SUMMARY_FORMAT, 0);
  fixed.writeUInt32LE(json.length, 4);
  return Buffer.concat([SUMMARY_MAGIC, fixed, json, body]);
}

/** Writes a summary file (to a temporary name, then renamed: a reader never sees half of one); returns its size. */
export function writeSummaryFile(
  file: string,
  header: Omit<SummaryHeader, 'bodyBytes' | 'bodySha1'>,
  payload: Uint8Array,
): number {
  const bytes = encodeSummary(header, payload);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
  return bytes.length;
}

function checkHeader(file: string, h: unknown): SummaryHeader {
  const o = h as Partial<SummaryHeader> | null;
  const s = o?.source;
  if (
    !o ||
    typeof o !== 'object' ||
    typeof o.includeLastStep !== 'boolean' ||
    typeof o.keptSteps !== 'number' ||
    typeof o.digested !== 'boolean' ||
    typeof o.bodyBytes !== 'number' ||
    typeof o.bodySha1 !== 'string' ||
    !s ||
    typeof s.name !== 'string' ||
    typeof s.size !== 'number'
  )
    fail(file, 'its header lacks what a rank summary states (includeLastStep, keptSteps, digested, source, body)');
  return o as SummaryHeader;
}

/** Reads and checks the magic, version and header at the start of `bytes` (the whole file or its head). */
function parseHeader(file: string, bytes: Uint8Array): { header: SummaryHeader; bodyAt: number } {
  const name = basename(file);
  if (!isSummaryHead(bytes))
    fail(file, `does not start with the magic bytes of a CommLens rank summary (is ${name} a summary?)`);
  const at = SUMMARY_MAGIC.length;
  if (bytes.length < at + 8) fail(file, 'is cut short: it ends inside its header');
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.readUInt32LE(at);
  if (version !== SUMMARY_FORMAT)
    fail(
      file,
      `is a rank summary of format ${version}, and this CommLens reads format ${SUMMARY_FORMAT}: it was written by ${version > SUMMARY_FORMAT ? 'a newer' : 'an older'} CommLens`,
    );
  const length = view.readUInt32LE(at + 4);
  if (bytes.length < at + 8 + length) fail(file, 'is cut short: it ends inside its header');
  let header: unknown;
  try {
    header = JSON.parse(view.toString('utf8', at + 8, at + 8 + length));
  } catch (e) {
    fail(file, `its header is not JSON (${(e as Error).message}): the file is corrupt`);
  }
  return { header: checkHeader(file, header), bodyAt: at + 8 + length };
}

/**
 * The header of a summary file, checked (magic, version, header, and the file's size against
 * the body's); throws TraceFormatError naming the file when it is not a summary this code reads.
 */
export function readSummaryHeader(file: string): SummaryHeader {
  const fd = fs.openSync(file, 'r');
  let head: Buffer;
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
    head = Buffer.alloc(Math.min(size, 64 * 1024));
    head = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
  } finally {
    fs.closeSync(fd);
  }
  const { header, bodyAt } = parseHeader(file, head);
  if (size !== bodyAt + header.bodyBytes)
    fail(
      file,
      size < bodyAt + header.bodyBytes
        ? `is cut short: ${size} bytes of the ${bodyAt + header.bodyBytes} its header states`
        : `has ${size - bodyAt - header.bodyBytes} bytes after the body its header states: the file is corrupt`,
    );
  return header;
}

/** A summary file's header and payload (the serialised RankPayload, as the scan worker posts it), checked. */
export function readSummaryFile(file: string): { header: SummaryHeader; payload: Buffer } {
  const bytes = fs.readFileSync(file);
  const { header, bodyAt } = parseHeader(file, bytes);
  const body = bytes.subarray(bodyAt);
  if (body.length !== header.bodyBytes)
    fail(
      file,
      body.length < header.bodyBytes
        ? `is cut short: its body has ${body.length} of the ${header.bodyBytes} bytes its header states`
        : `has ${body.length - header.bodyBytes} bytes after the body its header states: the file is corrupt`,
    );
  if (createHash('sha1').update(body).digest('hex') !== header.bodySha1)
    fail(file, 'its body does not match the hash in its header: the file is corrupt');
  let payload: Buffer;
  try {
    payload = inflateRawSync(body);
  } catch (e) {
    fail(file, `its body does not inflate (${(e as Error).message}): the file is corrupt`);
  }
  return { header, payload };
}
