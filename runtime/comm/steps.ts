/**
 * The chunk steps collectives are built from (the shape of NCCL's primitives): send,
 * recv+copy, recv+reduce and their forwarding variants, which read the incoming slot
 * and write the outgoing slot directly so that a forwarded chunk is touched once.
 * A collective is a few lists of steps; each list runs in order on its own FIFO, and
 * the lists progress independently (see engine.ts).
 */
import { Dtype, ReduceOp, TypedData, viewOf } from './dtypes';
import { Reducer } from './kernels';

export interface Step {
  /** Global rank to receive from, or -1. */
  from: number;
  /** Global rank to send to, or -1. */
  to: number;
  /** FIFO index on the pair(s). */
  fifo: number;
  /** Elements received / sent. */
  recvCount: number;
  sendCount: number;
  /** Tag count word expected on the incoming chunk / written on the outgoing (-1: the op's count). */
  recvTag: number;
  sendTag: number;
  /** Does the copy/reduce work once the incoming chunk is delivered and an outgoing slot is free. */
  run(inBuf: SharedArrayBuffer | null, inOff: number, outBuf: SharedArrayBuffer | null, outOff: number): void;
}

export class StepBuilder {
  constructor(
    readonly dtype: Dtype,
    readonly reduceOp: ReduceOp,
    readonly reducer: Reducer,
  ) {}

  private view(buf: SharedArrayBuffer | null, off: number, n: number): TypedData {
    return viewOf(this.dtype, buf as SharedArrayBuffer, off, n);
  }

  send(to: number, fifo: number, src: TypedData, tag = -1): Step {
    const n = src.length;
    return {
      from: -1,
      to,
      fifo,
      recvCount: 0,
      sendCount: n,
      recvTag: -1,
      sendTag: tag,
      run: (_ib, _io, ob, oo) => {
        if (n) this.view(ob, oo, n).set(src as never);
      },
    };
  }

  recvCopy(from: number, fifo: number, dst: TypedData, tag = -1): Step {
    const n = dst.length;
    return {
      from,
      to: -1,
      fifo,
      recvCount: n,
      sendCount: 0,
      recvTag: tag,
      sendTag: -1,
      run: (ib, io) => {
        if (n) dst.set(this.view(ib, io, n) as never);
      },
    };
  }

  /** dst = incoming (op) own; own and dst may alias. */
  recvReduce(from: number, fifo: number, own: TypedData, dst: TypedData, divisor = 0): Step {
    const n = own.length;
    return {
      from,
      to: -1,
      fifo,
      recvCount: n,
      sendCount: 0,
      recvTag: -1,
      sendTag: -1,
      run: (ib, io) => {
        if (n) this.reducer.reduce(this.dtype, this.reduceOp, dst, this.view(ib, io, n), own, divisor);
      },
    };
  }

  /** Sends incoming (op) own to `to`; with `dst`, the result is also stored there. */
  recvReduceSend(from: number, to: number, fifo: number, own: TypedData, dst: TypedData | null, divisor = 0): Step {
    const n = own.length;
    return {
      from,
      to,
      fifo,
      recvCount: n,
      sendCount: n,
      recvTag: -1,
      sendTag: -1,
      run: (ib, io, ob, oo) => {
        if (!n) return;
        const out = this.view(ob, oo, n);
        this.reducer.reduce(this.dtype, this.reduceOp, out, this.view(ib, io, n), own, divisor);
        if (dst) dst.set(out as never);
      },
    };
  }

  /** Stores the incoming chunk into dst (if given) and forwards it to `to`. */
  recvCopySend(from: number, to: number, fifo: number, dst: TypedData | null, count: number): Step {
    return {
      from,
      to,
      fifo,
      recvCount: count,
      sendCount: count,
      recvTag: -1,
      sendTag: -1,
      run: (ib, io, ob, oo) => {
        if (!count) return;
        const inView = this.view(ib, io, count);
        this.view(ob, oo, count).set(inView as never);
        if (dst) dst.set(inView as never);
      },
    };
  }
}
