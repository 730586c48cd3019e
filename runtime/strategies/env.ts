/**
 * The pieces every host-side strategy uses: collectives over the rank's communicator,
 * GPU↔host staging, and span sinks into the rank's trace.
 */
import type { Collectives } from './collectives';
import { commCollectives } from './commCollectives';
import type { SpanSink } from './hooks';
import { Staging } from './staging';
import type { StrategyContext } from './types';

export interface StrategyEnv {
  coll: Collectives;
  staging: Staging;
  /** Host work of the strategy (encode, decode, optimizer on the host). */
  span: SpanSink;
}

export function strategyEnv(ctx: StrategyContext): StrategyEnv {
  const span: SpanSink = (name, startNs, endNs, args) =>
    ctx.onSpan?.({ stream: 'host', category: 'host', name, startNs, endNs, args });
  const stagingSpan: SpanSink = (name, startNs, endNs, args) =>
    ctx.onSpan?.({ stream: 'staging', category: 'staging', name, startNs, endNs, args });
  return { coll: commCollectives(ctx.comm), staging: new Staging(ctx.device, stagingSpan), span };
}
