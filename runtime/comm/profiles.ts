/**
 * Interconnect profiles: the α-β model of a link (α = latency per message, β = bandwidth)
 * with the public figures listed in docs/references.md ("Collectives"). The transport paces every
 * chunk by these numbers, so a run on one machine sees the communication time of the
 * chosen cluster (as far as local memory is faster than the emulated link).
 */

export interface LinkProfile {
  name: string;
  /** Latency added to every message (chunk) on the link, in ns. */
  alphaNs: number;
  /** Bandwidth per direction in bytes per ns (numerically equal to GB/s). Infinity = unpaced. */
  bytesPerNs: number;
  description: string;
  /**
   * Set on scaled profiles: how many times slower than the real link this one is
   * (target FLOP/s ÷ local FLOP/s). 1 or absent = the real link.
   */
  scaleFactor?: number;
}

function profile(name: string, alphaNs: number, gbPerS: number, description: string): LinkProfile {
  return { name, alphaNs, bytesPerNs: gbPerS, description };
}

/** Named link profiles (per direction). Latencies are the middle of the typical ranges. */
export const LINK_PROFILES: Record<string, LinkProfile> = {
  none: profile('none', 0, Infinity, 'no emulation: raw shared-memory speed of this machine'),
  nvlink4: profile('nvlink4', 1_500, 450, 'NVLink 4 (H100 SXM): 450 GB/s per direction, ~1-2 µs'),
  nvlink3: profile('nvlink3', 1_500, 300, 'NVLink 3 (A100): 300 GB/s per direction, ~1-2 µs'),
  pcie5: profile('pcie5', 1_500, 63, 'PCIe 5.0 x16: ~63 GB/s per direction, ~1-2 µs'),
  pcie4: profile('pcie4', 1_500, 32, 'PCIe 4.0 x16: ~32 GB/s per direction, ~1-2 µs'),
  'ib-ndr': profile('ib-ndr', 3_000, 50, 'InfiniBand NDR 400 Gb/s = 50 GB/s, ~2-5 µs with NCCL'),
  'ib-hdr': profile('ib-hdr', 3_000, 25, 'InfiniBand HDR 200 Gb/s = 25 GB/s, ~2-5 µs with NCCL'),
  'eth-100g': profile('eth-100g', 20_000, 12.5, '100 GbE: 12.5 GB/s, ~10-50 µs (TCP)'),
  'eth-25g': profile('eth-25g', 30_000, 3.125, '25 GbE: 3.125 GB/s, ~10-50 µs (TCP)'),
  'eth-10g': profile('eth-10g', 50_000, 1.25, '10 GbE: 1.25 GB/s, ~10-50 µs (TCP)'),
  wan: profile('wan', 30_000_000, 0.0625, 'internet WAN: 0.5 Gb/s = 62.5 MB/s, 30 ms'),
};

/** Names accepted in a topology, e.g. for error messages and config schemas. */
export const LINK_PROFILE_NAMES = Object.keys(LINK_PROFILES);

/**
 * A link slowed down by `factor` (> 1 = slower): bandwidth ÷ factor, latency × factor.
 * This keeps the ratio of compute time to communication time of a cluster whose
 * compute is `factor` times faster than this machine's.
 */
export function slowedProfile(target: LinkProfile, factor: number): LinkProfile {
  if (!(factor > 0) || !Number.isFinite(factor)) {
    throw new Error(`link scale factor must be a positive finite number, got ${factor}`);
  }
  if (factor === 1) return target;
  return {
    name: `${target.name}@scaled${roundSig(factor)}`,
    alphaNs: target.alphaNs * factor,
    bytesPerNs: target.bytesPerNs / factor,
    description: `${target.description}; slowed ${roundSig(factor)}x to keep the target's compute-to-communication ratio`,
    scaleFactor: factor * (target.scaleFactor ?? 1),
  };
}

/**
 * The "scaled" profile of `target`: local compute is `targetFlops / localFlops` times slower
 * than the target cluster's GPUs, so the link is slowed by the same factor. The factor is
 * kept in `scaleFactor` so traces can say what was emulated.
 */
export function scaledProfile(target: LinkProfile | string, localFlops: number, targetFlops: number): LinkProfile {
  const t = typeof target === 'string' ? resolveLinkProfile(target) : target;
  if (!(localFlops > 0) || !(targetFlops > 0)) {
    throw new Error(`scaledProfile needs positive FLOP/s figures, got local=${localFlops}, target=${targetFlops}`);
  }
  return slowedProfile(t, targetFlops / localFlops);
}

/**
 * Dense peak FLOP/s of common target GPUs (NVIDIA datasheets, BF16/FP16 tensor cores,
 * without sparsity), for scaledProfile()'s targetFlops.
 */
export const GPU_PEAK_FLOPS: Record<string, number> = {
  'h100-sxm': 989.4e12,
  'h100-pcie': 756e12,
  a100: 312e12,
  v100: 125e12,
};

/** Looks a profile up by name; a clear error lists the valid names. */
export function resolveLinkProfile(name: string): LinkProfile {
  const p = LINK_PROFILES[name];
  if (!p) throw new Error(`unknown link profile '${name}'; valid: ${LINK_PROFILE_NAMES.join(', ')}`);
  return p;
}

/** Time in ns the α-β model gives for one message of `bytes` on `link`. */
export function messageTimeNs(link: LinkProfile, bytes: number): number {
  return link.alphaNs + (Number.isFinite(link.bytesPerNs) ? bytes / link.bytesPerNs : 0);
}

function roundSig(x: number): number {
  return Number(x.toPrecision(3));
}
