/**
 * Child of streaming.test.ts: writes steps to a .pftrace through PerfettoStreamWriter,
 * flushing at each step end and then printing `step N`, until it is killed.
 */
import * as fs from 'node:fs';
import { PerfettoStreamWriter } from '../../../trace/perfettoWriter';

const file = process.argv[2];
const fd = fs.openSync(file, 'w');
const w = new PerfettoStreamWriter((c) => fs.writeSync(fd, c), { originNs: '1700000000000000000' });
w.metadata({ test: 'sigkill' });
w.process({ pid: 0, rank: 0, name: 'rank 0' });
w.track({ id: 0, pid: 0, name: 'host', type: 'slice', stream: 'host', gpu: false });
w.track({ id: 1, pid: 0, name: 'compute', type: 'slice', stream: 'compute', gpu: true });
let step = 0;
const tick = () => {
  const t = step * 1_000_000;
  for (let k = 0; k < 50; k++)
    w.slice({ track: 1, name: 'kernel', category: 'kernel', startNs: t + k * 10_000, durNs: 9_000, args: { step, k } });
  w.slice({ track: 0, name: `step ${step}`, category: 'step', startNs: t, durNs: 900_000 });
  w.flush();
  process.stdout.write(`step ${step}\n`);
  step++;
  setTimeout(tick, 2);
};
tick();
