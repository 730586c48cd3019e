/**
 * The machine's CPU time so far, every core together: what os.cpus() says each core spent in user,
 * nice, system and irq time (not idle), in ms. On Linux it comes from /proc/stat in clock ticks
 * (10 ms), so a difference over a step is good to ~10 ms per core.
 */
import { cpus } from 'node:os';
import { hostNowNs } from './clock';

export function machineCpuMs(): number {
  let busy = 0;
  for (const c of cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}

/**
 * The cores the machine's other programs used over a window: the machine's busy time less this
 * process's CPU time, over the wall time; never below 0 (the machine's figure counts in 10 ms
 * ticks, the process's finer). 0 over an empty window.
 */
export function otherCoresOver(machineNs: number, processNs: number, wallNs: number): number {
  return wallNs > 0 ? Math.max(0, machineNs - processNs) / wallNs : 0;
}

/**
 * Runs `work` and reads the cores the machine's other programs used meanwhile (otherCoresOver),
 * and this process's own.
 */
export async function otherCoresDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; cores: number; processCores: number; wallNs: number }> {
  const machine0 = machineCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = hostNowNs();
  const result = await work();
  const wallNs = hostNowNs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const processNs = (cpu.user + cpu.system) * 1e3;
  return {
    result,
    cores: otherCoresOver((machineCpuMs() - machine0) * 1e6, processNs, wallNs),
    processCores: wallNs > 0 ? processNs / wallNs : 0,
    wallNs,
  };
}

/**
 * The machine's and this process's CPU time while a rank is blocked on its collectives (the
 * `wait …` spans): begin() when a wait starts, end() when it ends; waits that overlap count
 * once (from the first begin to the last end). Read per step by rank 0 (runtime/rankWorker.ts)
 * to tell what other programs take while the run waits from what they take while it works
 * (analysis/replay/load.ts).
 */
export class BlockedMeter {
  /**
   * Off until the rank knows its device is a software GPU (rankWorker): only there do other
   * programs take the cores its kernels run on, and each reading costs ~50 µs of os.cpus() on the
   * rank's thread at every wait, which a fast GPU's step would feel.
   */
  enabled = false;
  private depth = 0;
  private t0 = 0;
  private machine0 = 0;
  private process0 = 0;
  /** Totals over the finished blocked intervals: wall, machine and process CPU time, ns. */
  wallNs = 0;
  machineNs = 0;
  processNs = 0;

  constructor(private readonly now: () => number) {}

  begin(): void {
    if (!this.enabled || this.depth++ > 0) return;
    this.t0 = this.now();
    this.machine0 = machineCpuMs();
    const c = process.cpuUsage();
    this.process0 = c.user + c.system;
  }

  end(): void {
    if (this.depth === 0 || --this.depth > 0) return;
    const c = process.cpuUsage();
    this.wallNs += this.now() - this.t0;
    this.machineNs += (machineCpuMs() - this.machine0) * 1e6;
    this.processNs += (c.user + c.system - this.process0) * 1e3;
  }

  /** The totals so far (an interval still open is not in them). */
  totals(): { wallNs: number; machineNs: number; processNs: number } {
    return { wallNs: this.wallNs, machineNs: this.machineNs, processNs: this.processNs };
  }
}
