/**
 * Child process of bench/trace.ts: reads one Chrome JSON file and prints its peak RSS, so
 * the figure belongs to the read alone. Modes: `import` (readChromeJsonFile into the full
 * model) and `stream` (the same streamed splitting and per-event JSON parsing, events
 * counted instead of kept: what the reader costs without the model it builds).
 */
import * as fs from 'node:fs';
import { readChromeJsonFile } from '../trace/chromeJson';
import { JsonTraceSplitter } from '../trace/jsonStream';

async function main(): Promise<void> {
  const [file, mode] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let events = 0;
  if (mode === 'import') {
    const m = await readChromeJsonFile(file);
    events = m.slices.length + m.counters.reduce((n, c) => n + c.tsNs.length, 0);
  } else {
    const s = new JsonTraceSplitter({
      element(text) {
        const e = JSON.parse(text) as { ph?: unknown };
        if (typeof e.ph === 'string') events++;
      },
      topLevel() {},
      warn() {},
    });
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>)
      s.feed(chunk);
    s.end();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  process.stdout.write(
    JSON.stringify({
      events,
      seconds,
      cpuSeconds: (c.user + c.system) / 1e6,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }) + '\n',
  );
}

void main();
