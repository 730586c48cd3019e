/**
 * Errors of the communication library. Every error names the ranks involved so that a
 * failed run can say who failed and why instead of hanging.
 */

export class CommError extends Error {
  override name = 'CommError';
}

/** The world was aborted (by a failing rank, a timeout elsewhere, or the coordinator). */
export class CommAbortedError extends CommError {
  override name = 'CommAbortedError';
  constructor(
    readonly originRank: number,
    readonly reason: string,
    readonly observerRank: number,
  ) {
    super(
      `communication aborted by ${originRank < 0 ? 'the coordinator' : `rank ${originRank}`}: ${reason} (seen on rank ${observerRank})`,
    );
  }
}

/** A collective did not complete within the configured timeout. */
export class CommTimeoutError extends CommError {
  override name = 'CommTimeoutError';
  constructor(
    readonly rank: number,
    readonly missingRanks: number[],
    message: string,
  ) {
    super(message);
  }
}

/** Two ranks issued different calls (op, size, dtype, root, ...) for the same sequence number. */
export class CommMismatchError extends CommError {
  override name = 'CommMismatchError';
  constructor(
    readonly rank: number,
    readonly peerRank: number,
    readonly mine: string,
    readonly theirs: string,
  ) {
    super(`mismatched collective calls: rank ${rank} called ${mine} but rank ${peerRank} called ${theirs}`);
  }
}

/** Invalid arguments to a communicator call. */
export class CommUsageError extends CommError {
  override name = 'CommUsageError';
}
