/**
 * A map from numbers to numbers in typed arrays (open addressing, linear probing): what
 * `Map<number, number>` does for the id joins of a rank (correlation → launch, GPU work's
 * correlations), without an entry object per key or boxed keys. Keys compare as a Map's do
 * (SameValueZero: NaN equals NaN, -0 equals 0); a later set of a key replaces its value.
 */
export class NumberMap {
  private keys: Float64Array;
  private vals: Float64Array;
  private used: Uint8Array;
  private mask: number;
  private count = 0;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Float64Array(cap);
    this.vals = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The slot of `key`, or of the empty slot where it would go. */
  private slot(key: number): number {
    const mask = this.mask,
      keys = this.keys,
      used = this.used;
    let i = hashOf(key) & mask;
    for (;;) {
      if (used[i] === 0) return i;
      const k = keys[i];
      if (k === key || (k !== k && key !== key)) return i;
      i = (i + 1) & mask;
    }
  }

  get(key: number): number | undefined {
    const i = this.slot(key);
    return this.used[i] === 1 ? this.vals[i] : undefined;
  }

  has(key: number): boolean {
    return this.used[this.slot(key)] === 1;
  }

  set(key: number, value: number): this {
    let i = this.slot(key);
    if (this.used[i] === 0) {
      if ((this.count + 1) * 2 > this.mask + 1) {
        this.grow();
        i = this.slot(key);
      }
      this.used[i] = 1;
      this.keys[i] = key === 0 ? 0 : key;
      this.count++;
    }
    this.vals[i] = value;
    return this;
  }

  private grow(): void {
    const { keys, vals, used } = this;
    const cap = (this.mask + 1) * 2;
    this.keys = new Float64Array(cap);
    this.vals = new Float64Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < used.length; j++)
      if (used[j] === 1) {
        const i = this.slot(keys[j]);
        this.used[i] = 1;
        this.keys[i] = keys[j];
        this.vals[i] = vals[j];
      }
  }
}

const bits = new Float64Array(1);
const words = new Int32Array(bits.buffer);

function hashOf(key: number): number {
  // Integers of 32 bits (ids, mostly) hash by value; any other number by its bits (-0 as 0).
  if ((key | 0) === key) return Math.imul(key ^ (key >>> 16), 0x45d9f3b) ^ (key >>> 7);
  if (key !== key) return 0x7ff8;
  bits[0] = key;
  return Math.imul(words[0] ^ Math.imul(words[1], 0x9e3779b1), 0x45d9f3b) ^ (words[1] >>> 11);
}
