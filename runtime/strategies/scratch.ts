/**
 * Host buffers kept from one step to the next. A strategy that exchanges a bucket every step
 * asks for its buffers by name; they are made once per size and reused after. A fresh typed
 * array of a few MB is fresh pages from the system, and each page's first touch is a fault
 * (~12 µs in the VM these numbers are from). The compressed all-reduce of 1.3M values (int8,
 * four ranks' blocks, collectives answered at once), alone on one core, 20 calls: with fresh
 * buffers 55-65 ms and ~2,540-2,950 faults in most calls, 25 ms in the others; with kept ones
 * 24 ms and no fault from the second call on. In a 4-rank bf16 run of mlp-small on two cores
 * the codec spans took ~110 ms per step and rank with fresh buffers, ~75 ms with kept ones.
 *
 * One Scratch per concurrent user: a hook keeps one per bucket, as buckets of one step may be
 * in flight together, while the same bucket's exchanges follow one another.
 */
export class Scratch {
  private readonly f32s = new Map<string, Float32Array>();
  private readonly u8s = new Map<string, Uint8Array>();

  /** `n` f32 named `name`, zeroed when `zero` (else holding whatever the last use left). */
  f32(name: string, n: number, zero = false): Float32Array {
    let b = this.f32s.get(name);
    if (!b || b.length !== n) this.f32s.set(name, (b = new Float32Array(n)));
    else if (zero) b.fill(0);
    return b;
  }

  /** `n` bytes named `name`, holding whatever the last use left. */
  u8(name: string, n: number): Uint8Array {
    let b = this.u8s.get(name);
    if (!b || b.length !== n) this.u8s.set(name, (b = new Uint8Array(n)));
    return b;
  }

  /** Bytes held. */
  bytes(): number {
    let b = 0;
    for (const a of this.f32s.values()) b += a.byteLength;
    for (const a of this.u8s.values()) b += a.byteLength;
    return b;
  }
}

/** One Scratch per key (a bucket's index), made on first use. */
export class ScratchByKey {
  private readonly m = new Map<number, Scratch>();
  of(key: number): Scratch {
    let s = this.m.get(key);
    if (!s) this.m.set(key, (s = new Scratch()));
    return s;
  }
}
