/* global process, performance, console */
// bench:scale's library comparison: the streaming columnar scanner (trace/kinetoScan.ts)
// against stream-json (a maintained streaming JSON parser from npm, a devDependency kept
// only for this comparison) on the same Kineto file, one after the other in this process,
// each run twice (the second, after V8 has compiled the code, is the figure).
// stream-json: parser → pick traceEvents → streamArray, each event object assembled and the
// same fields read as the scanner keeps. Figures: CPU seconds of the process (all threads),
// so that the machine's other load changes them little, and wall seconds beside them.
//   node bench/scaleStreamJson.mjs FILE.json
import { createReadStream, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import parser from 'stream-json/parser.js';
import pick from 'stream-json/filters/pick.js';
import streamArray from 'stream-json/streamers/stream-array.js';

const require = createRequire(import.meta.url);
const { scanKinetoFile } = require('../out/trace/kinetoScan.js');
const file = process.argv[2];
if (!file) throw new Error('usage: node bench/scaleStreamJson.mjs FILE.json (a plain Kineto JSON file)');
const mb = statSync(file).size / 1e6;

function streamJson() {
  return new Promise((resolve, reject) => {
    let events = 0,
      sum = 0;
    const s = createReadStream(file, { highWaterMark: 1 << 20 })
      .pipe(parser.asStream())
      .pipe(pick.asStream({ filter: 'traceEvents' }))
      .pipe(streamArray.asStream());
    s.on('data', ({ value: e }) => {
      events++;
      // The fields the scanner keeps, read so that the work is the same.
      if (typeof e.ts === 'number') sum += e.ts + (e.dur ?? 0);
      const a = e.args;
      if (a && typeof a.correlation === 'number') sum += a.correlation;
      if (typeof e.name !== 'string' || typeof e.ph !== 'string') sum++;
    });
    s.on('end', () => resolve({ events, sum }));
    s.on('error', reject);
  });
}

async function timed(label, fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const c = process.cpuUsage(c0);
  const cpuS = (c.user + c.system) / 1e6;
  const wallS = (performance.now() - t0) / 1000;
  return {
    label,
    events: r.events ?? r.count,
    cpuS: +cpuS.toFixed(3),
    wallS: +wallS.toFixed(3),
    mbPerCpuS: +(mb / cpuS).toFixed(1),
  };
}

const out = [];
for (let k = 0; k < 2; k++) {
  out.push(await timed('kinetoScan', () => scanKinetoFile(file)));
  out.push(await timed('stream-json', streamJson));
}
const last = out.slice(-2);
console.log(
  JSON.stringify({
    file,
    mb: +mb.toFixed(1),
    runs: out,
    scanOverStreamJson: +(last[1].cpuS / last[0].cpuS).toFixed(2),
  }),
);
