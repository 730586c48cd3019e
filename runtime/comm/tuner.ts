/**
 * Picks an algorithm per call (trace/collectiveAlgorithms.ts, shared with the analysis, which
 * prices a CommLens run's collectives the same way); the link figures come from the group's
 * slowest pair.
 */
import { LinkProfile } from './profiles';
import { type GroupLink } from '../../trace/collectiveAlgorithms';

export {
  ALGORITHMS,
  chooseAlgorithm,
  estimateNs,
  LOCAL_ALPHA_NS,
  LOCAL_BYTES_PER_NS,
  LOCAL_REDUCE_BYTES_PER_NS,
  type GroupLink,
} from '../../trace/collectiveAlgorithms';

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
