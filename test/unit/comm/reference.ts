// Naive references for every collective of the harness, rebuilt from the deterministic
// payloads: what each rank's output must be.
import { CallSpec } from '../../../runtime/comm/harness';
import { balancedCounts } from '../../../runtime/comm/ring';
import { inputsOf, reference } from './helpers';

export interface Expected {
  value: number[];
  tol: number[];
}

const exact = (value: number[]): Expected => ({ value, tol: value.map(() => 0) });
const slice = (e: Expected, lo: number, hi: number): Expected => ({
  value: e.value.slice(lo, hi),
  tol: e.tol.slice(lo, hi),
});

/** Expected output of `call` (index ci) on each member of `ranks` (global ranks, group order). */
export function expectedOutputs(call: CallSpec, ranks: number[], seed: number, ci: number): Expected[] {
  const n = ranks.length;
  const { dtype } = call;
  const op = call.reduceOp ?? 'sum';
  switch (call.op) {
    case 'allReduce': {
      const ref = reference(dtype, op, inputsOf(ranks, dtype, call.count, seed, ci));
      return ranks.map(() => ref);
    }
    case 'reduceScatter': {
      const ref = reference(dtype, op, inputsOf(ranks, dtype, call.count, seed, ci));
      const counts = balancedCounts(call.count, n);
      let lo = 0;
      return counts.map((c) => slice(ref, lo, (lo += c)));
    }
    case 'allGather': {
      const counts = balancedCounts(call.count, n);
      const all = ranks.flatMap((r, i) => inputsOf([r], dtype, counts[i], seed, ci)[0]);
      return ranks.map(() => exact(all));
    }
    case 'broadcast': {
      const root = call.root ?? 0;
      const v = inputsOf([ranks[root]], dtype, call.count, seed, ci)[0];
      return ranks.map(() => exact(v));
    }
    case 'reduce': {
      const root = call.root ?? 0;
      const inputs = inputsOf(ranks, dtype, call.count, seed, ci);
      const ref = reference(dtype, op, inputs);
      return ranks.map((_, i) => (i === root ? ref : exact(inputs[i])));
    }
    case 'allToAll': {
      const splits = call.splits ?? ranks.map(() => new Array(n).fill(call.count / n));
      const inputs = ranks.map(
        (r, i) =>
          inputsOf(
            [r],
            dtype,
            splits[i].reduce((a, b) => a + b, 0),
            seed,
            ci,
          )[0],
      );
      return ranks.map((_, me) => {
        const out: number[] = [];
        for (let src = 0; src < n; src++) {
          const off = splits[src].slice(0, me).reduce((a, b) => a + b, 0);
          out.push(...inputs[src].slice(off, off + splits[src][me]));
        }
        return exact(out);
      });
    }
    case 'sendRecv':
      return ranks.map((_, i) => exact(inputsOf([ranks[(i + n - 1) % n]], dtype, call.count, seed, ci)[0]));
    case 'send':
      if (call.from !== undefined && call.to !== undefined) {
        return ranks.map((r, i) =>
          exact(inputsOf([i === call.to ? ranks[call.from!] : r], dtype, call.count, seed, ci)[0]),
        );
      }
      return ranks.map((r, i) => exact(inputsOf([i % 2 === 1 ? ranks[i - 1] : r], dtype, call.count, seed, ci)[0]));
    case 'barrier':
      return ranks.map(() => exact([]));
  }
}
