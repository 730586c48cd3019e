/**
 * A streaming splitter for Chrome JSON traces: it scans bytes as they arrive and hands out
 * each element of `traceEvents` (or of a top-level array, Chrome's "JSON Array Format")
 * as its own small JSON text, plus every other top-level value, so a 1 GB trace is read
 * with memory bounded by the largest single event, never the file.
 *
 * Guards for hostile input: an element nested deeper than MAX_DEPTH levels or larger than
 * MAX_ELEMENT_BYTES is skipped with a warning (its bytes are never kept); a top-level
 * value that is not an object or array is an error naming the byte offset.
 */
import { TraceFormatError } from './errors';

const MAX_DEPTH = 64;
const MAX_ELEMENT_BYTES = 16 * 1024 * 1024;
const MAX_KEY_BYTES = 1024;

export interface JsonStreamHandlers {
  /** One element of the events array: its text, index and the byte offset where it starts. */
  element(text: string, index: number, offset: number): void;
  /** A top-level key other than traceEvents, with its value's text. */
  topLevel(key: string, text: string, offset: number): void;
  /** Something skipped (too deep, too large, invalid UTF-8). */
  warn(message: string): void;
}

const strict = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');

const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WS[c] = 1;

/** Push bytes with `feed`, then call `end`. Throws TraceFormatError on input that is not JSON of a trace's shape. */
export class JsonTraceSplitter {
  /** Bytes consumed so far (absolute offset of the next byte). */
  offset = 0;
  /** True once a traceEvents array (or a top-level array) was entered. */
  sawEvents = false;
  private mode: 'start' | 'object' | 'array' | 'done' = 'start';
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Depth at which the events' elements live (1: top-level array, 2: traceEvents). */
  private eventsDepth = -1;
  private expectKey = false;
  private expectValue = false;
  private key = '';
  private keyParts: number[] = [];
  private readingKey = false;
  /** Current capture: an element or a top-level value. */
  private capturing: 'element' | 'value' | null = null;
  private captureScalar = false;
  private captureParts: Uint8Array[] = [];
  private captureBytes = 0;
  private captureStartOffset = 0;
  private captureTooBig = false;
  private captureTooDeep = false;
  private index = 0;
  private skippedDeep = 0;
  private skippedBig = 0;
  private badUtf8 = 0;

  constructor(
    private readonly h: JsonStreamHandlers,
    private readonly fileName?: string,
  ) {}

  feed(chunk: Uint8Array): void {
    let start = this.capturing ? 0 : -1;
    let i = 0;
    const n = chunk.length;
    if (this.mode === 'start') {
      // Skip a UTF-8 byte-order mark and whitespace before the top-level value.
      if (this.offset === 0 && n >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
      while (i < n && WS[chunk[i]]) i++;
      if (i === n) {
        this.offset += n;
        return;
      }
      const c = chunk[i];
      if (c === 0x7b) {
        this.mode = 'object';
        this.depth = 1;
        this.expectKey = true;
      } else if (c === 0x5b) {
        this.mode = 'array';
        this.depth = 1;
        this.eventsDepth = 1;
        this.sawEvents = true;
      } else {
        throw new TraceFormatError(`not a JSON trace: starts with ${JSON.stringify(String.fromCharCode(c))}`, {
          file: this.fileName,
          offset: this.offset + i,
          jsonPath: '$',
          expected: 'a JSON object with "traceEvents" or a JSON array of events',
        });
      }
      i++;
    }
    for (; i < n; i++) {
      if (this.inString && !this.escaped && !this.readingKey) {
        // Jump to the string's closing quote: the bytes before it carry no structure. Escapes
        // only matter when backslashes run up to that quote; the byte loop handles those.
        const q = chunk.indexOf(0x22, i);
        if (q < 0) {
          const b = chunk.indexOf(0x5c, i);
          if (b < 0) {
            i = n - 1;
            continue;
          }
          i = b;
        } else {
          let run = q;
          while (run > i && chunk[run - 1] === 0x5c) run--;
          i = run;
        }
      }
      const c = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.readingKey) {
            this.readingKey = false;
            this.key = lenient.decode(new Uint8Array(this.keyParts));
            this.keyParts = [];
          } else if (this.capturing && this.captureScalar) {
            this.finishCapture(chunk, start, i + 1);
            start = -1;
          }
        } else if (this.readingKey && this.keyParts.length < MAX_KEY_BYTES) this.keyParts.push(c);
        continue;
      }
      if (WS[c]) {
        if (this.capturing && this.captureScalar) {
          this.finishCapture(chunk, start, i);
          start = -1;
        }
        continue;
      }
      // Scalars end at a delimiter.
      if (this.capturing && this.captureScalar && (c === 0x2c || c === 0x5d || c === 0x7d)) {
        this.finishCapture(chunk, start, i);
        start = -1;
      }
      if (this.mode === 'done') {
        throw new TraceFormatError('unexpected data after the end of the JSON value', {
          file: this.fileName,
          offset: this.offset + i,
          expected: 'end of file',
        });
      }
      const atElementLevel = this.depth === this.eventsDepth && this.capturing === null;
      if (atElementLevel && c !== 0x2c && c !== 0x5d) {
        start = this.beginCapture('element', i, c);
        if (this.captureScalar && c === 0x22) this.inString = true;
        continue;
      } else if (this.mode === 'object' && this.depth === 1 && this.capturing === null && this.eventsDepth !== 2) {
        if (this.expectKey && c === 0x22) {
          this.inString = true;
          this.readingKey = true;
          this.expectKey = false;
          continue;
        }
        if (c === 0x3a) {
          this.expectValue = true;
          continue;
        }
        if (c === 0x2c) {
          this.expectKey = true;
          continue;
        }
        if (c === 0x7d) {
          this.depth = 0;
          this.mode = 'done';
          continue;
        }
        if (this.expectValue) {
          this.expectValue = false;
          if (this.key === 'traceEvents' && c === 0x5b) {
            this.depth = 2;
            this.eventsDepth = 2;
            this.sawEvents = true;
            continue;
          }
          start = this.beginCapture('value', i, c);
          if (this.captureScalar && c === 0x22) this.inString = true;
          continue;
        } else {
          throw new TraceFormatError(`unexpected ${JSON.stringify(String.fromCharCode(c))} in the top-level object`, {
            file: this.fileName,
            offset: this.offset + i,
            jsonPath: '$',
            expected: 'a key, ":" or ","',
          });
        }
      }
      if (c === 0x22) {
        this.inString = true;
        continue;
      }
      if (c === 0x7b || c === 0x5b) {
        this.depth++;
        if (this.capturing && this.depth - this.eventsOrValueDepth() > MAX_DEPTH && !this.captureTooDeep) {
          this.captureTooDeep = true;
          this.captureParts = [];
          start = -1;
        }
      } else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth < 0)
          throw new TraceFormatError('unbalanced closing bracket', {
            file: this.fileName,
            offset: this.offset + i,
            expected: 'matching "{" or "["',
          });
        if (this.capturing && this.depth === this.eventsOrValueDepth()) {
          this.finishCapture(chunk, start, i + 1);
          start = -1;
        } else if (this.eventsDepth === 2 && this.depth === 1 && c === 0x5d) {
          this.eventsDepth = -3; // traceEvents closed; back to top-level keys.
        } else if (this.depth === 0) this.mode = 'done';
      }
    }
    if (this.capturing && start >= 0 && !this.captureTooDeep && !this.captureTooBig) this.keep(chunk.subarray(start));
    this.offset += n;
  }

  private eventsOrValueDepth(): number {
    return this.capturing === 'element' ? this.eventsDepth : 1;
  }

  private beginCapture(kind: 'element' | 'value', i: number, c: number): number {
    this.capturing = kind;
    this.captureScalar = c !== 0x7b && c !== 0x5b;
    this.captureParts = [];
    this.captureBytes = 0;
    this.captureTooBig = false;
    this.captureTooDeep = false;
    this.captureStartOffset = this.offset + i;
    if (!this.captureScalar) this.depth++;
    return i;
  }

  private keep(part: Uint8Array): void {
    this.captureBytes += part.length;
    if (this.captureBytes > MAX_ELEMENT_BYTES) {
      this.captureTooBig = true;
      this.captureParts = [];
      return;
    }
    this.captureParts.push(part.slice());
  }

  private finishCapture(chunk: Uint8Array, start: number, end: number): void {
    const kind = this.capturing;
    this.capturing = null;
    if (start >= 0 && !this.captureTooDeep && !this.captureTooBig) this.keep(chunk.subarray(start, end));
    if (this.captureTooDeep) {
      this.skippedDeep++;
      if (this.skippedDeep === 1)
        this.h.warn(
          `${this.where()}element at byte ${this.captureStartOffset} nests deeper than ${MAX_DEPTH} levels and was skipped`,
        );
      if (kind === 'element') this.index++;
      return;
    }
    if (this.captureTooBig) {
      this.skippedBig++;
      if (this.skippedBig === 1)
        this.h.warn(
          `${this.where()}element at byte ${this.captureStartOffset} is larger than ${MAX_ELEMENT_BYTES} bytes and was skipped`,
        );
      if (kind === 'element') this.index++;
      return;
    }
    const bytes = this.captureParts.length === 1 ? this.captureParts[0] : concat(this.captureParts, this.captureBytes);
    this.captureParts = [];
    let text: string;
    try {
      text = strict.decode(bytes);
    } catch {
      if (this.badUtf8++ === 0)
        this.h.warn(
          `${this.where()}invalid UTF-8 in the value at byte ${this.captureStartOffset} (decoded with U+FFFD)`,
        );
      text = lenient.decode(bytes);
    }
    if (kind === 'element') this.h.element(text, this.index++, this.captureStartOffset);
    else this.h.topLevel(this.key, text, this.captureStartOffset);
  }

  private where(): string {
    return this.fileName ? `${this.fileName}: ` : '';
  }

  /** Call after the last chunk. Returns a warning when the input stopped mid-way. */
  end(): string | undefined {
    if (this.capturing && this.captureScalar && !this.inString) {
      this.finishCapture(new Uint8Array(0), -1, 0);
    }
    if (this.mode === 'start') {
      throw new TraceFormatError('empty file', { file: this.fileName, offset: 0, expected: 'a JSON trace' });
    }
    if (this.depth > 0) {
      const where =
        this.eventsDepth > 0 ? `inside traceEvents after ${this.index} event(s)` : 'inside the top-level value';
      if (this.mode === 'array' && this.depth === 1 && !this.inString) return undefined; // the Array Format may omit its closing "]"
      return `file ends ${where} at byte ${this.offset} (truncated?); the complete events before it were imported`;
    }
    return undefined;
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
