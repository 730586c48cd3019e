/**
 * describeTraceFile reads a short head first and the full one when the short one leaves the
 * kind, the rank or the first event's time open: the description is the full head's either way.
 * Files built so that each of these is cut at the short head's end (16 KiB of JSON), plain and
 * gzip, and the shared Kineto fixtures.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describeTraceFile } from '../../../trace/discover';
import { fixturesDir } from '../../helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-describe-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SHORT = 16 * 1024;
const TS = '1700000000123456.5';

/** A Kineto document whose first event's `ts` value starts `cutAt` bytes before the short head's end. */
function kinetoText(cutAt: number, distributedFirst = true): string {
  const dist = `"distributedInfo": {"backend": "nccl", "rank": 5, "world_size": 8}`;
  const head = `{${distributedFirst ? `${dist}, ` : ''}"deviceProperties": [{"id": 0, "name": "`;
  const tail = `"}], "traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7, "ts": `;
  const pad = SHORT - cutAt - head.length - tail.length;
  const events = `${TS}, "dur": 3}]${distributedFirst ? '' : `, ${dist}`}}`;
  return `${head}${'x'.repeat(Math.max(0, pad))}${tail}${events}\n`;
}

function write(name: string, text: string, gzip: boolean): string {
  const file = path.join(tmp, gzip ? `${name}.json.gz` : `${name}.json`);
  fs.writeFileSync(file, gzip ? gzipSync(Buffer.from(text)) : text);
  return file;
}

describe('describing a trace file from its head', () => {
  for (const gzip of [false, true])
    it(`the first event's time cut at the short head's end is read whole (${gzip ? 'gzip' : 'plain'})`, () => {
      // The number starts 1..12 bytes before the end: "1", "1700", "1700000000123456." and whole.
      for (const cutAt of [1, 4, 10, 17, 19, 40]) {
        const info = describeTraceFile(write(`cut-${cutAt}`, kinetoText(cutAt), gzip));
        assert.equal(info.kind, 'kineto');
        assert.equal(info.startUs, Number(TS), `ts starting ${cutAt} bytes before the short head's end`);
        assert.deepEqual([info.rank, info.rankFrom, info.worldSize, info.backend], [5, 'distributedInfo', 8, 'nccl']);
      }
    });

  it('a distributedInfo after the events (beyond the short head) still gives the rank', () => {
    const info = describeTraceFile(write('dist-last', kinetoText(2000, false), false));
    assert.deepEqual([info.kind, info.rank, info.rankFrom, info.startUs], ['kineto', 5, 'distributedInfo', Number(TS)]);
  });

  it('the shared Kineto fixtures are described as before (rank from distributedInfo, epoch start)', () => {
    for (const f of ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz']) {
      const info = describeTraceFile(fixturesDir('kineto', 'hta-sampled', f));
      assert.equal(info.kind, 'kineto');
      assert.equal(info.rankFrom, 'distributedInfo');
      assert.ok(info.startUs !== undefined && info.startUs > 1e14, `${f}: startUs ${info.startUs}`);
    }
  });
});
