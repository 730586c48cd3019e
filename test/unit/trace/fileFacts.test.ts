/**
 * What is learnt of a trace file from its head (trace/fileFacts.ts): kept in the cache folder and
 * used by the next process (another open, the trace worker) while the file is the same file,
 * never once it was written again, nor when it was learnt within the race window of its last
 * change; a store that is not one is ignored.
 *
 * The next process is a child that prints the file's parse-cache key head and its description.
 * To show that it answers from the store and not from the file, the store is given a head hash
 * and a rank that the file does not have.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FACTS_FILE, saveFacts, setRacyWindowMs } from '../../../trace/fileFacts';
import { cacheKeyOf } from '../../../trace/parseCache';
import { describeTraceFile } from '../../../trace/discover';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-facts-'));
const cacheDir = path.join(dir, 'cache');
fs.mkdirSync(cacheDir);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const trace = (rank: number): string =>
  JSON.stringify({
    distributedInfo: { rank, world_size: 8, backend: 'nccl' },
    traceEvents: [{ ph: 'X', cat: 'kernel', name: 'k', ts: 1_700_000_000_000_000, dur: 2, pid: 0, tid: 7 }],
  });

/** In a fresh process: the head of `file`'s parse-cache key and the rank its description gives. */
function inChild(file: string, racyMs: number): { head: string; rank: number | undefined } {
  const out = path.join(__dirname, '..', '..', '..');
  const script = `
    const f = require(${JSON.stringify(path.join(out, 'trace', 'fileFacts.js'))});
    f.setRacyWindowMs(${racyMs});
    const { cacheKeyOf } = require(${JSON.stringify(path.join(out, 'trace', 'parseCache.js'))});
    const { describeTraceFile } = require(${JSON.stringify(path.join(out, 'trace', 'discover.js'))});
    process.stdout.write(JSON.stringify({ head: cacheKeyOf(process.argv[1], 0, 'code').head, rank: describeTraceFile(process.argv[1]).rank }));
  `;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', script, file], {
      env: { ...process.env, COMMLENS_CACHE_DIR: cacheDir },
    }).toString(),
  ) as { head: string; rank: number | undefined };
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const store = (): { files: Record<string, { head?: { sha256: string }; info?: Record<string, { rank?: number }> }> } =>
  JSON.parse(fs.readFileSync(path.join(cacheDir, FACTS_FILE), 'utf8'));

test("a file's head and description are kept for the next process, and stand only for the bytes they were read from", async () => {
  process.env.COMMLENS_CACHE_DIR = cacheDir;
  try {
    const file = path.join(dir, 'rank-3.json');
    fs.writeFileSync(file, trace(3));
    // Whole seconds, so that setting them back gives the very same mtime.
    const when = 1_700_000_000;
    fs.utimesSync(file, when, when);

    // Learnt right after the file was written (within the race window): not kept.
    assert.equal(describeTraceFile(file).rank, 3);
    cacheKeyOf(file, 0, 'code');
    saveFacts(cacheDir, [file]);
    assert.equal(fs.existsSync(path.join(cacheDir, FACTS_FILE)), false, 'nothing kept within the race window');

    // Learnt later (a window of 0 stands for "later"): kept, with the head's true hash.
    await new Promise((r) => setTimeout(r, 5));
    setRacyWindowMs(0);
    assert.equal(describeTraceFile(file).rank, 3);
    const key = cacheKeyOf(file, 0, 'code');
    saveFacts(cacheDir, [file]);
    const first = store().files[path.resolve(file)];
    assert.equal(first.head?.sha256, sha256(fs.readFileSync(file)));
    assert.equal(key.head, first.head?.sha256);
    assert.deepEqual(
      Object.values(first.info ?? {}).map((i) => i.rank),
      [3],
    );

    // The next process answers from the store: given another head and rank, it says those.
    const s = store();
    const entry = s.files[path.resolve(file)];
    entry.head!.sha256 = 'f'.repeat(64);
    for (const code of Object.keys(entry.info!)) entry.info![code].rank = 5;
    fs.writeFileSync(path.join(cacheDir, FACTS_FILE), JSON.stringify(s));
    assert.deepEqual(inChild(file, 0), { head: 'f'.repeat(64), rank: 5 }, 'read from the store, not the file');

    // With the default window, a file changed a moment ago is read again.
    assert.deepEqual(inChild(file, 2000), { head: sha256(fs.readFileSync(file)), rank: 3 });

    // Written again with the same size and its mtime set back: the store no longer stands for it.
    const st = fs.statSync(file);
    fs.writeFileSync(file, trace(4));
    assert.equal(fs.statSync(file).size, st.size);
    fs.utimesSync(file, when, when);
    assert.equal(fs.statSync(file).mtimeMs, st.mtimeMs);
    assert.deepEqual(inChild(file, 0), { head: sha256(fs.readFileSync(file)), rank: 4 });

    // A store whose values are not what this code writes (edited, another version): not used.
    // The rewritten file's facts kept, then given other values of the right kinds (used), then
    // values of the wrong kinds (not used).
    assert.equal(describeTraceFile(file).rank, 4);
    cacheKeyOf(file, 0, 'code');
    saveFacts(cacheDir, [file]);
    const edit = (head: unknown, info: unknown): void => {
      const s2 = store();
      const e = s2.files[path.resolve(file)];
      (e.head as { sha256: unknown }).sha256 = head;
      for (const code of Object.keys(e.info!)) (e.info as Record<string, unknown>)[code] = info;
      fs.writeFileSync(path.join(cacheDir, FACTS_FILE), JSON.stringify(s2));
    };
    const kept = store().files[path.resolve(file)];
    const keptInfo = Object.values(kept.info!)[0];
    edit('e'.repeat(64), { ...keptInfo, rank: 6 });
    assert.deepEqual(inChild(file, 0), { head: 'e'.repeat(64), rank: 6 });
    edit(5, 7);
    assert.deepEqual(inChild(file, 0), { head: sha256(fs.readFileSync(file)), rank: 4 });

    // A store larger than any this code writes (64 MiB) is not read, even with an entry that would be used.
    edit('e'.repeat(64), { ...keptInfo, rank: 6 });
    const padded = store() as unknown as Record<string, unknown>;
    padded.pad = 'x'.repeat(64 * 2 ** 20);
    fs.writeFileSync(path.join(cacheDir, FACTS_FILE), JSON.stringify(padded));
    assert.deepEqual(inChild(file, 0), { head: sha256(fs.readFileSync(file)), rank: 4 });

    // A store that is not one: ignored.
    fs.writeFileSync(path.join(cacheDir, FACTS_FILE), '{"files": [1, 2');
    assert.deepEqual(inChild(file, 0), { head: sha256(fs.readFileSync(file)), rank: 4 });
  } finally {
    setRacyWindowMs(2000);
    delete process.env.COMMLENS_CACHE_DIR;
  }
});
