/**
 * Reverse-mode autograd: ops record an entry with a backward closure while the forward
 * pass encodes; `backward` walks the entries in reverse, handing each closure the
 * gradient of its output and a sink for its inputs' gradients.
 *
 * Gradient accumulation without a zeroing pass: the first contribution to an input's
 * gradient is written, later ones are added (`accumulate`), so each backward kernel has a
 * write and an accumulate variant. Parameter gradients land directly in their range of
 * the flat gradient buffer.
 *
 * Gradient tensors may be shared (an add passes its output gradient to both inputs):
 * each holds a count of the tensors using it, is copied before anyone accumulates into it
 * while shared (copy on write), and returns to the pool when the count reaches zero.
 */
import type { GpuContext } from './context';
import type { SpanPhase } from './spans';
import type { Tensor } from './tensor';

export interface GradTarget {
  tensor: Tensor;
  /** Add into `tensor` instead of overwriting it. */
  accumulate: boolean;
}

export interface GradSink {
  /** Where the gradient of `input` goes, or undefined when it needs none. */
  target(input: Tensor): GradTarget | undefined;
  /**
   * Hands `grad` itself to `input` as its gradient (no copy), when the op's gradient for
   * that input is the output gradient unchanged (same-shape add). Returns false when the
   * caller must write it instead (input is a parameter, or already has a gradient).
   */
  alias(input: Tensor, grad: Tensor): boolean;
}

export interface TapeEntry {
  name: string;
  scope: string;
  inputs: Tensor[];
  output: Tensor;
  /**
   * A promise only from exchange ops (sequence parallelism's all-to-all), which only
   * `backwardAsync` runs; every kernel op returns nothing.
   */
  backward(gradOut: Tensor, sink: GradSink): void | Promise<void>;
}

export class Tape {
  entries: TapeEntry[] = [];
  /** Tensors produced during forward, returned to the pool when the tape is cleared. */
  owned: Tensor[] = [];

  constructor(private readonly ctx: GpuContext) {}

  /** Keeps a tensor saved for backward (statistics, probabilities) until the tape clears. */
  keep(t: Tensor): Tensor {
    this.owned.push(t);
    return t;
  }

  /** Records an op; the output requires a gradient when any input does. */
  record(entry: Omit<TapeEntry, 'scope'>): void {
    const needsGrad = entry.inputs.some((t) => t.requiresGrad);
    this.owned.push(entry.output);
    if (!needsGrad) return;
    entry.output.requiresGrad = true;
    for (const t of entry.inputs) if (t.requiresGrad) t.gradUses++;
    this.entries.push({ ...entry, scope: this.ctx.scope });
  }

  /**
   * Runs backward from `loss` seeded with `seed` (a tensor holding dLoss, e.g. the loss
   * scale). `onParamDone` is told about every parameter whose gradient became final.
   * Returns the gradients of leaf tensors that are not parameters (inputs marked
   * requiresGrad, as the gradient checks use); the caller releases them.
   */
  backward(
    loss: Tensor,
    seed: Tensor,
    onParamDone: (p: Tensor) => void,
    phase: SpanPhase = 'backward',
  ): Map<Tensor, Tensor> {
    const walk = this.walker(loss, seed, onParamDone, phase);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (walk.run(i))
        throw new Error(`tape: op '${this.entries[i].name}' exchanges data between ranks; run backwardAsync`);
    }
    return walk.finish();
  }

  /** `backward` for tapes holding exchange ops: awaits each one before going on. */
  async backwardAsync(
    loss: Tensor,
    seed: Tensor,
    onParamDone: (p: Tensor) => void,
    phase: SpanPhase = 'backward',
    accumulateParams = false,
  ): Promise<Map<Tensor, Tensor>> {
    const walk = this.walker(loss, seed, onParamDone, phase, accumulateParams);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const pending = walk.run(i);
      if (pending) await pending;
    }
    return walk.finish();
  }

  /** The state of one backward walk: `run(i)` does entry i (a promise for exchange ops), `finish` hands back the leftovers. */
  /** `accumulateParams`: add into the parameters' gradients from the first contribution (pipeline micro-batches). */
  private walker(
    loss: Tensor,
    seed: Tensor,
    onParamDone: (p: Tensor) => void,
    phase: SpanPhase,
    accumulateParams = false,
  ): { run(i: number): Promise<void> | undefined; finish(): Map<Tensor, Tensor> } {
    const ctx = this.ctx;
    const grads = new Map<Tensor, Tensor>([[loss, seed]]);
    // The seed is never released nor written: its count starts above any reachable zero.
    const holds = new Map<Tensor, number>([[seed, 2]]);
    const remaining = new Map<Tensor, number>();
    const drop = (g: Tensor) => {
      const n = (holds.get(g) ?? 1) - 1;
      holds.set(g, n);
      if (n === 0 && g.pooled) ctx.release(g);
    };
    const sink: GradSink = {
      target(input: Tensor): GradTarget | undefined {
        if (!input.requiresGrad) return undefined;
        const existing = grads.get(input);
        if (existing) {
          if ((holds.get(existing) ?? 1) === 1) return { tensor: existing, accumulate: true };
          const own = ctx.tensor(input.shape);
          ctx
            .commandEncoder()
            .copyBufferToBuffer(
              existing.buf.gpu,
              existing.offsetBytes,
              own.buf.gpu,
              own.offsetBytes,
              existing.byteLength,
            );
          drop(existing);
          grads.set(input, own);
          holds.set(own, 1);
          return { tensor: own, accumulate: true };
        }
        const tensor = input.param ? input.param.grad : ctx.tensor(input.shape);
        grads.set(input, tensor);
        holds.set(tensor, 1);
        return { tensor, accumulate: accumulateParams && input.param !== undefined };
      },
      alias(input: Tensor, grad: Tensor): boolean {
        if (!input.requiresGrad) return true;
        if (input.param || grads.has(input)) return false;
        grads.set(input, grad);
        holds.set(grad, (holds.get(grad) ?? 1) + 1);
        return true;
      },
    };
    ctx.phase = phase;
    const after = (e: TapeEntry, g: Tensor): void => {
      grads.delete(e.output);
      drop(g);
      for (const t of e.inputs) {
        if (!t.requiresGrad) continue;
        const left = (remaining.get(t) ?? t.gradUses) - 1;
        remaining.set(t, left);
        if (left === 0 && t.param) onParamDone(t);
      }
    };
    const entries = this.entries;
    return {
      run(i: number): Promise<void> | undefined {
        const e = entries[i];
        const g = grads.get(e.output);
        if (!g) return undefined;
        ctx.scope = e.scope;
        const pending = e.backward(g, sink);
        if (pending) {
          return pending.then(() => {
            ctx.phase = phase;
            ctx.scope = e.scope;
            after(e, g);
          });
        }
        after(e, g);
        return undefined;
      },
      finish(): Map<Tensor, Tensor> {
        for (const [t] of grads) if (t.param) grads.delete(t);
        return grads;
      },
    };
  }

  /** Returns activations to the pool and resets per-step use counts. */
  clear(params: Tensor[]): void {
    for (const t of this.owned) this.ctx.release(t);
    this.owned = [];
    this.entries = [];
    for (const p of params) p.gradUses = 0;
  }
}
