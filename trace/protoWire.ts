/**
 * Protocol-buffer wire format, written and read by hand.
 *
 * Why not protobufjs' reflection: the trace writer must sustain millions of events per
 * second and the reader must report the byte offset of every malformed field; a small
 * writer that encodes straight into one growable buffer and a bounds-checked cursor do
 * both. The encoding is the standard one (varints, zigzag-free int64 two's complement,
 * little-endian fixed64/double, length-delimited strings and messages).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const TWO_32 = 4294967296;
/** Little-endian scratch for doubles (every JS engine CommLens runs on is little-endian, as is the wire format). */
const SCRATCH_DOUBLE = new Float64Array(1);
const SCRATCH_BYTES = new Uint8Array(SCRATCH_DOUBLE.buffer);

/** Number of bytes UTF-8 needs for `s` (lone surrogates count as U+FFFD, as TextEncoder writes them). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const encoder = new TextEncoder();

/** A growable byte buffer with protobuf field writers. Reset and reuse it between messages. */
export class ProtoWriter {
  buf: Uint8Array;
  pos = 0;
  private view: DataView;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  /** The written bytes (a view: copy before reusing the writer). */
  written(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Unsigned varint of a non-negative integer up to 2^53. */
  varint(v: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    if (v < TWO_32) {
      let lo = v >>> 0;
      while (lo > 127) {
        buf[pos++] = (lo & 127) | 128;
        lo >>>= 7;
      }
      buf[pos++] = lo;
      this.pos = pos;
      return;
    }
    this.pos = pos;
    this.varint64(v >>> 0, Math.floor(v / TWO_32) >>> 0);
  }

  /** Unsigned varint of the 64-bit value hi·2^32 + lo (both unsigned 32-bit). */
  varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** Signed int64/int32 as protobuf writes it: negatives are 10-byte two's complement. */
  int64Value(v: number): void {
    if (v >= 0) {
      this.varint(v);
      return;
    }
    const hi = Math.floor(v / TWO_32);
    const lo = v - hi * TWO_32;
    this.varint64(lo >>> 0, hi >>> 0);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  uint(field: number, v: number): void {
    if (field < 16 && v < 128 && v >= 0) {
      // One-byte tag and value: the bulk of a trace's fields.
      if (this.pos + 2 > this.buf.length) this.ensure(2);
      this.buf[this.pos++] = field << 3;
      this.buf[this.pos++] = v;
      return;
    }
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  int64(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.int64Value(v);
  }

  bool(field: number, v: boolean): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v ? 1 : 0);
  }

  fixed64(field: number, v: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    const lo = v % TWO_32;
    this.view.setUint32(this.pos, lo >>> 0, true);
    this.view.setUint32(this.pos + 4, Math.floor(v / TWO_32) >>> 0, true);
    this.pos += 8;
  }

  double(field: number, v: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  string(field: number, s: string): void {
    this.tag(field, WIRE_LEN);
    const n = utf8Length(s);
    this.varint(n);
    this.ensure(n);
    if (n === s.length) {
      // ASCII: a plain loop beats TextEncoder for the short names traces are made of.
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
      this.pos = pos;
    } else {
      encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + n));
      this.pos += n;
    }
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A nested message whose body was written into `inner`. */
  message(field: number, inner: ProtoWriter): void {
    const n = inner.pos;
    if (field < 16 && n < 128) {
      if (this.pos + n + 2 > this.buf.length) this.ensure(n + 2);
      const buf = this.buf;
      const src = inner.buf;
      let pos = this.pos;
      buf[pos++] = (field << 3) | WIRE_LEN;
      buf[pos++] = n;
      for (let i = 0; i < n; i++) buf[pos++] = src[i];
      this.pos = pos;
      return;
    }
    this.tag(field, WIRE_LEN);
    this.varint(n);
    this.copy(inner.buf, n);
  }

  /** Appends the first `n` bytes of `src` (a loop for the short copies traces are made of). */
  copy(src: Uint8Array, n: number): void {
    this.ensure(n);
    if (n > 64) {
      this.buf.set(src.subarray(0, n), this.pos);
      this.pos += n;
      return;
    }
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) buf[pos++] = src[i];
    this.pos = pos;
  }
}

/** Bytes the varint of hi·2^32 + lo takes. */
export function varint64Size(lo: number, hi: number): number {
  if (hi === 0) return lo < 128 ? 1 : lo < 16384 ? 2 : lo < 2097152 ? 3 : lo < 268435456 ? 4 : 5;
  let n = 5;
  hi >>>= 3;
  while (hi > 0) {
    n++;
    hi >>>= 7;
  }
  return n;
}

/** Bytes a varint of `v` (non-negative, up to 2^53) takes. */
export function varintSize(v: number): number {
  if (v < 128) return 1;
  if (v < 16384) return 2;
  if (v < 2097152) return 3;
  if (v < 268435456) return 4;
  let n = 4;
  v = Math.floor(v / 268435456);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** Thrown by ProtoCursor; the readers turn it into a TraceFormatError naming the file. */
export class WireError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly expected: string,
  ) {
    super(message);
  }
}

/**
 * A bounds-checked reader over `buf[start, end)`. Every read checks the end; offsets in
 * errors are absolute (from the start of the file), so nested cursors keep `base`.
 */
export class ProtoCursor {
  pos: number;
  /** 64-bit varints read by `varint64` leave their halves here. */
  lo = 0;
  hi = 0;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a varint into `lo`/`hi`. Rejects varints longer than 10 bytes. */
  varint64(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    const start = this.pos;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end)
        throw new WireError('varint runs past the end of its message', start, 'a complete varint');
      const b = buf[this.pos++];
      if (shift < 28) lo |= (b & 127) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 127) >>> 4;
      } else hi |= (b & 127) << (shift - 32);
      if (b < 128) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
      shift += 7;
    }
    throw new WireError('varint longer than 10 bytes', start, 'a varint of at most 10 bytes');
  }

  /** Varint as a JS number (exact below 2^53). */
  varint(): number {
    this.varint64();
    return this.hi * TWO_32 + this.lo;
  }

  /** Varint as a signed 64-bit integer (two's complement), as a JS number. */
  int64(): number {
    this.varint64();
    if (this.hi & 0x80000000) return (this.hi | 0) * TWO_32 + this.lo;
    return this.hi * TWO_32 + this.lo;
  }

  fixed64(): number {
    if (this.pos + 8 > this.end) throw new WireError('fixed64 runs past the end of its message', this.pos, '8 bytes');
    // Byte arithmetic rather than a DataView: cursors are made per nested message, views are not cheap.
    const b = this.buf;
    const p = this.pos;
    const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
    this.lo = lo;
    this.hi = hi;
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new WireError('double runs past the end of its message', this.pos, '8 bytes');
    for (let i = 0; i < 8; i++) SCRATCH_BYTES[i] = this.buf[this.pos + i];
    this.pos += 8;
    return SCRATCH_DOUBLE[0];
  }

  /** Payload bounds set by `len()`: [segStart, segEnd). */
  segStart = 0;
  segEnd = 0;

  /** Reads a length prefix and sets segStart/segEnd to the payload, checked against the end (no allocation). */
  len(): void {
    const at = this.pos;
    const n = this.varint();
    if (n > this.end - this.pos) {
      throw new WireError(
        `length ${n} runs past the end (${this.end - this.pos} bytes left)`,
        at,
        `a length of at most ${this.end - this.pos}`,
      );
    }
    this.segStart = this.pos;
    this.pos += n;
    this.segEnd = this.pos;
  }

  /** Reads a length prefix and returns the [start, end) of the payload, checked against the end. */
  lengthDelimited(): [number, number] {
    this.len();
    return [this.segStart, this.segEnd];
  }

  /** Skips one field of the given wire type (groups are rejected: TrackEvent traces never use them). */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_FIXED64:
        if (this.pos + 8 > this.end)
          throw new WireError('fixed64 runs past the end of its message', this.pos, '8 bytes');
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.len();
        return;
      case WIRE_FIXED32:
        if (this.pos + 4 > this.end)
          throw new WireError('fixed32 runs past the end of its message', this.pos, '4 bytes');
        this.pos += 4;
        return;
      default:
        throw new WireError(`unsupported wire type ${wire}`, this.pos - 1, 'wire type 0, 1, 2 or 5');
    }
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** Decodes UTF-8; on invalid bytes returns the text with U+FFFD and `valid: false`. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): { text: string; valid: boolean } {
  const bytes = buf.subarray(start, end);
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii)
    return { text: bytes.length < 64 ? String.fromCharCode(...bytes) : lenientUtf8.decode(bytes), valid: true };
  try {
    return { text: strictUtf8.decode(bytes), valid: true };
  } catch {
    return { text: lenientUtf8.decode(bytes), valid: false };
  }
}
