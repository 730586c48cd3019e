/**
 * The names of CommLens' training strategies and how a run combines them, shared by the
 * runtime (which runs them), the analysis (which reads them from a trace's run metadata
 * and suggests changes to them) and the CLI. A run's `strategy` is one id or several
 * joined with '+' (`ddp-bucketed+fp16`); whitespace around an id is ignored.
 */

export const STRATEGY_IDS = [
  'ddp',
  'ddp-bucketed',
  'fp16',
  'bf16',
  'int8-ef',
  'topk-dgc',
  'powersgd',
  'onebit-adam',
  'zero1',
  'zero2',
  'zero3',
  'localsgd',
  'diloco',
  'streaming-diloco',
  'ulysses',
  'ring',
  'tp',
  'pp',
  'ep',
] as const;

export type StrategyId = (typeof STRATEGY_IDS)[number];

/** Gradient compression hooks on DDP's all-reduce (PyTorch's comm-hook slot). */
export const HOOK_IDS: readonly StrategyId[] = ['fp16', 'bf16', 'int8-ef', 'topk-dgc', 'powersgd'];
/** ZeRO stages. */
export const SHARD_IDS: readonly StrategyId[] = ['zero1', 'zero2', 'zero3'];
/** Local-update methods: ranks synchronise every H inner steps instead of every step. */
export const LOCAL_IDS: readonly StrategyId[] = ['localsgd', 'diloco', 'streaming-diloco'];

/** Default H of the local-update methods (`strategyOptions.localSteps`). */
export const DEFAULT_LOCAL_STEPS = 4;

/** The ids of a `strategy` string, trimmed, empty parts dropped (unknown ids are kept: validation names them). */
export function parseStrategyIds(strategy: string | undefined): string[] {
  return (strategy ?? 'ddp')
    .split('+')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The ids of `strategy` that are not CommLens strategies (empty when all are known). */
export function unknownStrategyIds(strategy: string): string[] {
  const known: readonly string[] = STRATEGY_IDS;
  const ids = parseStrategyIds(strategy);
  return ids.length === 0 ? [strategy] : ids.filter((id) => !known.includes(id));
}

/** True when `strategy` includes `id`. */
export function hasStrategy(strategy: string | undefined, id: StrategyId): boolean {
  return parseStrategyIds(strategy).includes(id);
}
