/**
 * The host clock every span of a run is placed on.
 *
 * `process.hrtime.bigint()` is CLOCK_MONOTONIC on Linux: it never jumps with wall-clock
 * adjustments and it is the same clock in every worker thread of the process, so spans
 * from different ranks (threads) line up without further alignment.
 */
export function hostNowNs(): number {
  // Monotonic nanoseconds since boot fit in a double exactly for ~104 days of uptime;
  // beyond that the sub-microsecond digits round, which spans can afford.
  return Number(process.hrtime.bigint());
}
