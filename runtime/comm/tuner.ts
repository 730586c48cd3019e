/**
 * Picks an algorithm per call the way NCCL's tuner does: estimate each candidate's time
 * with a cost model (Thakur, Rabenseifner & Gropp 2005: α per message, β for bandwidth,
 * γ for the reduction arithmetic) and take the fastest. The link figures come from the
 * group's slowest pair; local costs (waking a thread, copying and adding in JS) are added
 * so that the choice is also right for `none`, the raw shared-memory transport.
 */
import { LinkProfile } from './profiles';

/** Wake-up and hand-off latency of this transport (doorbell notify → woken thread), ns. */
export const LOCAL_ALPHA_NS = 15_000;
/** Copy bandwidth of the transport, bytes per ns. */
export const LOCAL_BYTES_PER_NS = 6;
/** Reduction (a[i] + b[i]) bandwidth in JS, bytes per ns. */
export const LOCAL_REDUCE_BYTES_PER_NS = 3;
/** How much faster the WebAssembly SIMD reduction is than the JS loop (measured ~4x). */
const SIMD_SPEEDUP = 4;

export const ALGORITHMS: Record<string, readonly string[]> = {
  allReduce: ['ring', 'recursive-doubling', 'two-shot'],
  reduceScatter: ['ring'],
  allGather: ['ring'],
  broadcast: ['chain', 'tree'],
  reduce: ['chain', 'tree'],
  allToAll: ['direct'],
  barrier: ['recursive-doubling', 'ring'],
  send: ['direct'],
  recv: ['direct'],
};

export interface GroupLink {
  alphaNs: number;
  bytesPerNs: number;
}

/** The slowest pair of a group (max α, min β) among `pairs` links. */
export function groupLink(pairs: LinkProfile[]): GroupLink {
  let alphaNs = 0;
  let bytesPerNs = Infinity;
  for (const p of pairs) {
    alphaNs = Math.max(alphaNs, p.alphaNs);
    bytesPerNs = Math.min(bytesPerNs, p.bytesPerNs);
  }
  return { alphaNs, bytesPerNs };
}

/** Estimated time (ns) of `algorithm` for `op` on n ranks and S bytes. */
export function estimateNs(
  op: string,
  algorithm: string,
  n: number,
  bytes: number,
  link: GroupLink,
  chunkBytes: number,
): number {
  if (n <= 1) return 0;
  const a = link.alphaNs + LOCAL_ALPHA_NS;
  const perByte = 1 / link.bytesPerNs + 1 / LOCAL_BYTES_PER_NS;
  const g = 1 / LOCAL_REDUCE_BYTES_PER_NS;
  const logN = Math.ceil(Math.log2(n));
  const folded = n & (n - 1) ? 2 : 0; // extra steps of recursive doubling on non-powers of two
  const reduces = op === 'allReduce' || op === 'reduce' || op === 'reduceScatter';
  switch (`${op}/${algorithm}`) {
    case 'allReduce/ring':
      return 2 * (n - 1) * a + ((2 * (n - 1)) / n) * bytes * perByte + ((n - 1) / n) * bytes * g;
    case 'allReduce/two-shot':
      // publish + progress + exit handshakes; read S once while reducing, copy (n-1)/n·S
      return 3 * a + ((n - 1) / n) * bytes * (perByte + g / SIMD_SPEEDUP) + bytes / LOCAL_BYTES_PER_NS / n;
    case 'allReduce/recursive-doubling':
    case 'barrier/recursive-doubling':
      return (logN + folded) * (a + bytes * perByte) + (logN + 1) * bytes * g;
    case 'barrier/ring':
      return 2 * (n - 1) * a;
    case 'reduceScatter/ring':
    case 'allGather/ring':
      return (n - 1) * a + ((n - 1) / n) * bytes * perByte + (reduces ? ((n - 1) / n) * bytes * g : 0);
    case 'broadcast/chain':
    case 'reduce/chain':
      return (n - 1) * a + (bytes + (n - 2) * Math.min(bytes, chunkBytes)) * perByte + (reduces ? bytes * g : 0);
    case 'broadcast/tree':
    case 'reduce/tree':
      return logN * (a + bytes * perByte) + (reduces ? logN * bytes * g : 0);
    case 'allToAll/direct':
      return (n - 1) * a + ((n - 1) / n) * bytes * perByte;
    default:
      return 0;
  }
}

/** The candidate with the smallest estimate (leaving out `exclude`). */
export function chooseAlgorithm(
  op: string,
  n: number,
  bytes: number,
  link: GroupLink,
  chunkBytes: number,
  exclude: readonly string[] = [],
): string {
  const candidates = (ALGORITHMS[op] ?? ['direct']).filter((c) => !exclude.includes(c));
  let best = candidates[0];
  let bestNs = Infinity;
  for (const c of candidates) {
    const t = estimateNs(op, c, n, bytes, link, chunkBytes);
    if (t < bestNs) {
      bestNs = t;
      best = c;
    }
  }
  return best;
}
