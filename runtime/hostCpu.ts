/**
 * The machine's CPU time so far, every core together: what os.cpus() says each core spent in user,
 * nice, system and irq time (not idle), in ms. On Linux it comes from /proc/stat in clock ticks
 * (10 ms), so a difference over a step is good to ~10 ms per core.
 */
import { cpus } from 'node:os';

export function machineCpuMs(): number {
  let busy = 0;
  for (const c of cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}
