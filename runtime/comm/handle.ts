import { hostNowNs } from '../clock';

/** A pending collective: await wait() when the result is needed (overlap in between). */
export interface CommHandle {
  wait(): Promise<void>;
  readonly done: boolean;
}

export class PendingOp implements CommHandle {
  private settled = false;
  private failure: unknown;
  constructor(
    private readonly promise: Promise<void>,
    private readonly onBlockedWait?: (startNs: number) => void,
    /** Called when a caller starts blocking on it (before onBlockedWait's start time is read). */
    private readonly onBlockedStart?: () => void,
  ) {
    promise.then(
      () => (this.settled = true),
      (e) => {
        this.settled = true;
        this.failure = e;
      },
    );
  }
  get done(): boolean {
    return this.settled;
  }
  get error(): unknown {
    return this.failure;
  }
  wait(): Promise<void> {
    if (this.settled || !this.onBlockedWait) return this.promise;
    const report = this.onBlockedWait;
    this.onBlockedStart?.();
    const t0 = hostNowNs();
    return this.promise.finally(() => report(t0));
  }
}

/** A handle that is already complete (or failed). */
export function settledHandle(error?: unknown): CommHandle {
  const p = error === undefined ? Promise.resolve() : Promise.reject(error);
  p.catch(() => undefined);
  return new PendingOp(p);
}
