/**
 * Per-rank state shared by every communicator (world and sub-groups) a rank opens: its
 * channels, its waiter, and the one queue through which all its collectives run in the
 * order they were issued (as on one NCCL stream).
 */
import { RecvFifo, SendFifo } from './channel';
import { Fifos } from './engine';
import { Reducer } from './kernels';
import { CommSpan } from './spans';
import { BOARD_WORDS, WorldInit } from './world';

export class RankState implements Fifos {
  readonly board: Int32Array;
  readonly reducer: Reducer;
  /** Next free byte of this rank's arena (registered buffers). */
  arenaUsed = 0;
  private readonly sendFifos: SendFifo[][];
  private readonly recvFifos: RecvFifo[][];
  /** Tail of the issue-order queue. */
  tail: Promise<void> = Promise.resolve();
  /** Set after a failed collective: the communicator cannot be trusted any more. */
  broken: Error | undefined;
  /**
   * When this rank's queue became free on the emulated timeline: the emulated end of its
   * last collective (the later of its last emulated arrival and the end of its local work).
   */
  emuFreeNs = 0;
  /** Told when a caller starts and stops blocking on one of this rank's collectives (CommunicatorOptions.blockedMeter). */
  blockedMeter: { begin(): void; end(): void } | undefined;
  /** Names of groups known to this rank, by key (for messages). */
  readonly groupNames = new Map<number, string>();

  constructor(
    readonly init: WorldInit,
    readonly rank: number,
    readonly onSpan: ((s: CommSpan) => void) | undefined,
    /** Sleep in Atomics.wait (pure-communication threads) instead of Atomics.waitAsync. */
    readonly blocking: boolean,
  ) {
    if (!Number.isInteger(rank) || rank < 0 || rank >= init.worldSize) {
      throw new Error(`rank must be an integer in [0, ${init.worldSize}), got ${rank}`);
    }
    this.board = new Int32Array(init.board);
    this.reducer = new Reducer(init.memory, init.scratchOffsets[rank], 2 * init.chunkBytes);
    this.sendFifos = Array.from({ length: init.worldSize }, () => []);
    this.recvFifos = Array.from({ length: init.worldSize }, () => []);
  }

  send(peer: number, fifo: number): SendFifo {
    const row = this.sendFifos[peer];
    return (row[fifo] ??= new SendFifo(
      this.init,
      this.rank,
      peer,
      fifo,
      this.init.links[this.rank * this.init.worldSize + peer],
    ));
  }

  recv(peer: number, fifo: number): RecvFifo {
    const row = this.recvFifos[peer];
    return (row[fifo] ??= new RecvFifo(this.init, peer, this.rank, fifo));
  }

  private pending = 0;
  private keepAlive: NodeJS.Timeout | undefined;

  /**
   * Pending Atomics.waitAsync promises do not keep a thread's event loop alive, so while a
   * collective is queued or running a referenced timer does (else the worker would exit).
   */
  opStarted(): void {
    if (this.pending++ === 0) this.keepAlive = setInterval(() => undefined, 1 << 30);
  }

  opEnded(): void {
    if (--this.pending === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  boardOf(rank: number): Int32Array {
    return this.board.subarray(rank * BOARD_WORDS, (rank + 1) * BOARD_WORDS);
  }
}
