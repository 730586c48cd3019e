/**
 * The runtime's whole check of a run config, as the analysis asks for it (analysis/types.ts
 * AnalysisOptions.checkRunConfig): the advisor suggests only layouts this accepts, the same
 * check `commlens verify` runs before it re-runs a suggestion.
 */
import { ConfigError, validateConfig } from '../runtime/config';
import { LINK_PROFILES } from '../runtime/comm';
import { STRATEGY_IDS, validateStrategyConfig } from '../runtime/strategies';

/** The problems of `config` as a run config ([] when it would run). */
export function checkRunConfig(config: Record<string, unknown>): string[] {
  try {
    validateConfig(config, Object.keys(LINK_PROFILES), STRATEGY_IDS, validateStrategyConfig);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}
