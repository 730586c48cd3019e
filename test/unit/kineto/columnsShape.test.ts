// Every rank's columns have one shape (V8 map): functions optimised on one rank's columns stay
// optimised for the next. A spread of the trimmed columns into the result gave each rank's
// columns a map of its own after a dozen ranks, and the importer's longest functions were thrown
// away and compiled again for every later rank (a 64-rank job spent 16 % more CPU).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths';

test('the columns of every rank scanned in one process share one map', () => {
  const scanModule = join(__dirname, '..', '..', '..', 'trace', 'kinetoScan.js');
  const file = join(fixturesDir('kineto', 'hta-sampled'), 'sampled_rank-0.json.gz');
  // %HaveSameMap needs V8's natives syntax, so the check runs in a Node of its own.
  const script = `
    const { scanKinetoFile } = require(${JSON.stringify(scanModule)});
    (async () => {
      let first, differ = 0;
      for (let r = 0; r < 40; r++) {
        const c = await scanKinetoFile(${JSON.stringify(file)});
        if (!first) first = c;
        else if (!%HaveSameMap(first, c)) differ++;
      }
      process.stdout.write(JSON.stringify({ differ }));
    })();`;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { differ: 0 });
});
