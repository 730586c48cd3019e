/**
 * Chrome JSON (Trace Event Format) reading and writing: the Node entry point (files,
 * gzip), re-exporting the pure writer (chromeJsonWriter.ts) and in-memory readers
 * (chromeJsonParse.ts).
 *
 * Reading: streamed (see jsonStream.ts), plain or gzip (sniffed by its magic bytes), so
 * memory stays bounded by the largest event rather than the file.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { TraceModel } from './model';
import { TraceFormatError } from './errors';
import type { JsonTraceSplitter } from './jsonStream';
import { ChromeJsonImporter } from './chromeJsonImporter';
import { finishImport, splitterFor } from './chromeJsonParse';
import { LoadBudget, statRegularFile, type LoadOptions } from './budget';

export { ChromeJsonStreamWriter, writeChromeJson, writeChromeJsonTo } from './chromeJsonWriter';
export { readChromeJson, readChromeJsonBytes } from './chromeJsonParse';

/**
 * Reads a Chrome JSON file, plain or gzip, as a stream (memory bounded by the largest
 * event, and the events by the load budget: bytes are charged as they are decompressed,
 * events as they are split out).
 */
export async function readChromeJsonFile(path: string, opts: LoadOptions = {}): Promise<TraceModel> {
  const size = statRegularFile(path).size;
  const imp = new ChromeJsonImporter();
  // The text streams (1 byte of memory per byte in flight); the events are what stays.
  const budget = new LoadBudget(path, 1, opts);
  const splitter = splitterFor(imp, path, () => budget.events(1));
  const gz = await startsWithGzip(path);
  const source = fs.createReadStream(path, { highWaterMark: 1 << 20 });
  const gunzip = gz ? zlib.createGunzip() : undefined;
  // Input consumed by gunzip, or read from disk, for the estimate of the whole.
  budget.progress = () => (gunzip ? gunzip.bytesWritten : source.bytesRead) / Math.max(1, size);
  const stream = gunzip ? source.pipe(gunzip) : source;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      budget.bytes(chunk.length);
      splitter.feed(chunk);
    }
  } catch (e) {
    if (e instanceof TraceFormatError) throw e;
    // A cut or corrupt gzip stream: keep what was decompressed, if anything.
    const msg = `${path}: ${gz ? 'gzip' : 'read'} error after ${splitter.offset} bytes: ${(e as Error).message}`;
    if (!splitter.sawEvents)
      throw new TraceFormatError(`${gz ? 'gzip' : 'read'} error: ${(e as Error).message}`, {
        file: path,
        offset: splitter.offset,
        expected: gz ? 'a complete gzip stream' : 'a readable file',
      });
    (splitter as JsonTraceSplitter & { warnings: string[] }).warnings.push(msg);
  } finally {
    source.destroy();
  }
  return finishImport(imp, splitter, path);
}

/** True when the file starts with the gzip magic bytes 1f 8b. */
export async function startsWithGzip(path: string): Promise<boolean> {
  const fh = await fs.promises.open(path, 'r');
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}
