/**
 * Chrome JSON reading from memory (text, bytes or a parsed value) through the same
 * streamed splitter the file reader uses. Pure: runs in Node and in the webview.
 */
import type { TraceModel } from './model';
import { TraceFormatError } from './errors';
import { JsonTraceSplitter } from './jsonStream';
import { ChromeJsonImporter } from './chromeJsonImporter';

/** A splitter feeding `imp`, collecting its warnings. */
export function splitterFor(imp: ChromeJsonImporter, fileName?: string, onElement?: () => void): JsonTraceSplitter {
  const warnings: string[] = [];
  const splitter = new JsonTraceSplitter(
    {
      element(text, index, offset) {
        onElement?.();
        const path = `$.traceEvents[${index}]`;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          imp.invalid(path, offset, (e as Error).message);
          return;
        }
        imp.event(value, path);
      },
      topLevel(key, text) {
        try {
          imp.topLevel(key, JSON.parse(text));
        } catch {
          warnings.push(`top-level "${key}" is not valid JSON; ignored`);
        }
      },
      warn(message) {
        warnings.push(message);
      },
    },
    fileName,
  );
  (splitter as JsonTraceSplitter & { warnings: string[] }).warnings = warnings;
  return splitter;
}

/** Ends a streamed read: the errors for input that is not a trace, else the finished model. */
export function finishImport(imp: ChromeJsonImporter, splitter: JsonTraceSplitter, fileName?: string): TraceModel {
  const endWarning = splitter.end();
  const warnings = (splitter as JsonTraceSplitter & { warnings: string[] }).warnings;
  if (!splitter.sawEvents) {
    throw new TraceFormatError('JSON without a "traceEvents" array', {
      file: fileName,
      jsonPath: '$.traceEvents',
      expected: 'a Chrome JSON trace: {"traceEvents": [...]} or [...]',
    });
  }
  if (imp.imported === 0) {
    const p = imp.firstProblem();
    if (p)
      throw new TraceFormatError(`no trace events could be read: ${p.what}`, {
        file: fileName,
        jsonPath: p.path,
        expected: 'objects with "ph", "ts", "pid" and "tid"',
      });
  }
  if (endWarning) warnings.push(fileName ? `${fileName}: ${endWarning}` : endWarning);
  return imp.finish(warnings);
}

/** Reads Chrome JSON from raw bytes (UTF-8, not gzip), as the streamed reader would. */
export function readChromeJsonBytes(bytes: Uint8Array, opts: { fileName?: string } = {}): TraceModel {
  const imp = new ChromeJsonImporter();
  const splitter = splitterFor(imp, opts.fileName);
  splitter.feed(bytes);
  return finishImport(imp, splitter, opts.fileName);
}

/** Reads Chrome JSON from text or an already parsed value. */
export function readChromeJson(input: string | object, opts: { fileName?: string } = {}): TraceModel {
  const imp = new ChromeJsonImporter();
  if (typeof input === 'string') {
    const splitter = splitterFor(imp, opts.fileName);
    splitter.feed(new TextEncoder().encode(input));
    return finishImport(imp, splitter, opts.fileName);
  }
  const events = Array.isArray(input) ? input : (input as Record<string, unknown>).traceEvents;
  if (!Array.isArray(events)) {
    throw new TraceFormatError('JSON without a "traceEvents" array', {
      file: opts.fileName,
      jsonPath: '$.traceEvents',
      expected: 'a Chrome JSON trace: {"traceEvents": [...]} or [...]',
    });
  }
  if (!Array.isArray(input)) for (const [k, v] of Object.entries(input)) if (k !== 'traceEvents') imp.topLevel(k, v);
  events.forEach((e, i) => imp.event(e, `$.traceEvents[${i}]`));
  if (imp.imported === 0 && events.length > 0) {
    const p = imp.firstProblem();
    throw new TraceFormatError(`no trace events could be read: ${p?.what ?? 'unknown'}`, {
      file: opts.fileName,
      jsonPath: p?.path,
      expected: 'objects with "ph", "ts", "pid" and "tid"',
    });
  }
  return imp.finish();
}
