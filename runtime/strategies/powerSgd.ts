/**
 * PowerSGD (Vogels et al., arXiv 1905.13727), as PyTorch's `powerSGD_hook` does it:
 * each gradient matrix M (n×m, error feedback added) is approximated by P·Qᵀ of rank r
 * with one step of subspace iteration warm-started from last step's Q:
 *   P = M·Q, all-reduce P, orthonormalise P, Q = Mᵀ·P, all-reduce Q, M̂ = P·Qᵀ,
 *   error = M − M̂.
 * Matrices where rank r saves nothing ((n+m)·r ≥ n·m) and the rest of the bucket travel
 * uncompressed, packed into the P all-reduce. Two all-reduces per bucket in all.
 */
import type { Bucket } from './buckets';
import { nowNs, type GradientHook, type HookEnv } from './hooks';

/** A matrix inside a bucket: `rows`×`cols` values from `offset` (relative to the bucket). */
export interface MatrixView {
  offset: number;
  rows: number;
  cols: number;
}

/** How a bucket is cut into matrices; the remaining elements are sent uncompressed. */
export type MatrixPlanner = (bucket: Bucket) => MatrixView[];

interface BucketState {
  matrices: MatrixView[];
  q: Float32Array[];
  error: Float32Array;
  /** Elements not covered by a compressed matrix. */
  rest: Uint32Array;
}

/** Deterministic normal samples, the same on every rank (the warm start must agree). */
function seededNormals(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** Gram–Schmidt on the r columns of a rows×r row-major matrix. */
export function orthonormaliseColumns(p: Float32Array, rows: number, r: number): void {
  for (let c = 0; c < r; c++) {
    for (let prev = 0; prev < c; prev++) {
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += p[i * r + c] * p[i * r + prev];
      for (let i = 0; i < rows; i++) p[i * r + c] -= dot * p[i * r + prev];
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += p[i * r + c] * p[i * r + c];
    norm = Math.sqrt(norm) + 1e-8;
    for (let i = 0; i < rows; i++) p[i * r + c] /= norm;
  }
}

/** Compressed size in values of a bucket (matrices as factors, the rest as is): for the wire-volume checks. */
export function powerSgdValues(bucketLength: number, matrices: MatrixView[], rank: number): number {
  let covered = 0;
  let sent = 0;
  for (const m of matrices) {
    covered += m.rows * m.cols;
    sent += (m.rows + m.cols) * rank;
  }
  return sent + bucketLength - covered;
}

export class PowerSgdHook implements GradientHook {
  readonly id = 'powersgd';
  private readonly state = new Map<number, BucketState>();
  constructor(
    private readonly env: HookEnv,
    private readonly rank: number,
    private readonly planner: MatrixPlanner,
    private readonly startStep: number,
    private readonly seed: number,
  ) {}

  private init(bucket: Bucket): BucketState {
    const matrices = this.planner(bucket).filter((m) => (m.rows + m.cols) * this.rank < m.rows * m.cols);
    const covered = new Uint8Array(bucket.length);
    for (const m of matrices) covered.fill(1, m.offset, m.offset + m.rows * m.cols);
    const rest: number[] = [];
    for (let i = 0; i < bucket.length; i++) if (!covered[i]) rest.push(i);
    const q = matrices.map((m, i) => seededNormals(m.cols * this.rank, this.seed * 7919 + bucket.index * 131 + i));
    return { matrices, q, error: new Float32Array(bucket.length), rest: Uint32Array.from(rest) };
  }

  async exchange(bucket: Bucket, grads: Float32Array, step: number): Promise<void> {
    const { coll } = this.env;
    if (step < this.startStep) {
      // PyTorch's start_powerSGD_iter: plain all-reduce first, to get past the noisy start.
      await coll.allReduceF32(grads, 'avg');
      return;
    }
    let st = this.state.get(bucket.index);
    if (!st) this.state.set(bucket.index, (st = this.init(bucket)));
    const r = this.rank;
    let t = nowNs();
    for (let i = 0; i < grads.length; i++) grads[i] += st.error[i];
    // Buffer 1: all P factors, then the uncompressed rest.
    const pSize = st.matrices.reduce((a, m) => a + m.rows * r, 0);
    const buf1 = new Float32Array(pSize + st.rest.length);
    let off = 0;
    st.matrices.forEach((m, k) => {
      const q = st.q[k];
      for (let i = 0; i < m.rows; i++) {
        const row = m.offset + i * m.cols;
        for (let c = 0; c < r; c++) {
          let s = 0;
          for (let j = 0; j < m.cols; j++) s += grads[row + j] * q[j * r + c];
          buf1[off + i * r + c] = s;
        }
      }
      off += m.rows * r;
    });
    for (let i = 0; i < st.rest.length; i++) buf1[pSize + i] = grads[st.rest[i]];
    this.env.span('encode PowerSGD P', t, nowNs(), { bucket: bucket.index, rank: r });
    await coll.allReduceF32(buf1, 'avg');
    t = nowNs();
    const qSize = st.matrices.reduce((a, m) => a + m.cols * r, 0);
    const buf2 = new Float32Array(qSize);
    off = 0;
    let qOff = 0;
    st.matrices.forEach((m) => {
      const p = buf1.subarray(off, off + m.rows * r);
      orthonormaliseColumns(p, m.rows, r);
      const q = buf2.subarray(qOff, qOff + m.cols * r);
      for (let i = 0; i < m.rows; i++) {
        const row = m.offset + i * m.cols;
        for (let j = 0; j < m.cols; j++) {
          const g = grads[row + j];
          for (let c = 0; c < r; c++) q[j * r + c] += g * p[i * r + c];
        }
      }
      off += m.rows * r;
      qOff += m.cols * r;
    });
    this.env.span('encode PowerSGD Q', t, nowNs(), { bucket: bucket.index, rank: r });
    await coll.allReduceF32(buf2, 'avg');
    t = nowNs();
    // Error = M − M̂ over the matrices; the rest was sent exactly, so its error is zero.
    st.error.fill(0);
    off = 0;
    qOff = 0;
    st.matrices.forEach((m, k) => {
      const p = buf1.subarray(off, off + m.rows * r);
      const q = buf2.subarray(qOff, qOff + m.cols * r);
      for (let i = 0; i < m.rows; i++) {
        const row = m.offset + i * m.cols;
        for (let j = 0; j < m.cols; j++) {
          let s = 0;
          for (let c = 0; c < r; c++) s += p[i * r + c] * q[j * r + c];
          st.error[row + j] = grads[row + j] - s;
          grads[row + j] = s;
        }
      }
      st.q[k].set(q); // warm start
      off += m.rows * r;
      qOff += m.cols * r;
    });
    for (let i = 0; i < st.rest.length; i++) grads[st.rest[i]] = buf1[pSize + i];
    this.env.span('decode PowerSGD', t, nowNs(), { bucket: bucket.index });
  }

  /** The matrices compressed in a bucket (after its first compressed step). */
  matricesOf(bucketIndex: number): MatrixView[] | undefined {
    return this.state.get(bucketIndex)?.matrices;
  }

  stateBytes(): number {
    let b = 0;
    for (const s of this.state.values()) b += s.error.byteLength + s.q.reduce((a, q) => a + q.byteLength, 0);
    return b;
  }
}
