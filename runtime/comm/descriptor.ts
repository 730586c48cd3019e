/**
 * What a rank says it is doing: the arguments of one collective call, encoded in a few
 * int32 words so that they fit the shared board and every chunk header. Two ranks that
 * disagree on these words for the same (group, seq) made mismatched calls.
 */
import { Dtype, DTYPES, REDUCE_OPS, ReduceOp } from './dtypes';

export const OP_NAMES = [
  'allReduce',
  'reduceScatter',
  'allGather',
  'broadcast',
  'reduce',
  'allToAll',
  'send',
  'recv',
  'barrier',
] as const;
export type OpName = (typeof OP_NAMES)[number];

export interface OpDescriptor {
  /** 32-bit key of the group (hash of its rank list). */
  groupKey: number;
  groupName: string;
  seq: number;
  op: OpName;
  dtype: Dtype;
  /** The element count every member must agree on (op dependent). */
  count: number;
  reduceOp: ReduceOp;
  /** Root (group rank) for broadcast/reduce; peer for send/recv; -1 otherwise. */
  root: number;
}

export function opCode(op: OpName): number {
  return OP_NAMES.indexOf(op);
}

/** root+1 in the high bits, reduce op in the low 4 bits. */
export function encodeExtra(d: Pick<OpDescriptor, 'reduceOp' | 'root'>): number {
  return ((d.root + 1) << 4) | REDUCE_OPS.indexOf(d.reduceOp);
}

export function decodeExtra(extra: number): { reduceOp: ReduceOp; root: number } {
  return { reduceOp: REDUCE_OPS[extra & 15] ?? 'sum', root: (extra >> 4) - 1 };
}

export function dtypeCode(d: Dtype): number {
  return DTYPES.indexOf(d);
}

/** Human-readable call, e.g. `allReduce(seq 3 of group world, 1000 × f32, sum)`. */
export function describeCall(
  op: number,
  seq: number,
  groupName: string,
  dtype: number,
  count: number,
  extra: number,
): string {
  const { reduceOp, root } = decodeExtra(extra);
  const name = OP_NAMES[op] ?? `op#${op}`;
  const parts = [`${count} × ${DTYPES[dtype] ?? `dtype#${dtype}`}`];
  if (name === 'allReduce' || name === 'reduceScatter' || name === 'reduce') parts.push(reduceOp);
  if (root >= 0) parts.push(name === 'send' || name === 'recv' ? `peer ${root}` : `root ${root}`);
  return `${name}(seq ${seq} of group ${groupName}, ${parts.join(', ')})`;
}

export function describe(d: OpDescriptor): string {
  return describeCall(opCode(d.op), d.seq, d.groupName, dtypeCode(d.dtype), d.count, encodeExtra(d));
}

/**
 * FNV-1a over the rank list (and the name of a named group, so that two named groups of
 * the same ranks keep apart): the same group gets the same key on every rank.
 */
export function groupKeyOf(ranks: readonly number[], name?: string): number {
  let h = 0x811c9dc5;
  if (name !== undefined) {
    for (let i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  for (const r of ranks) {
    h ^= r & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= r >>> 16;
    h = Math.imul(h, 0x01000193);
  }
  h ^= ranks.length;
  return Math.imul(h, 0x01000193) | 0;
}
