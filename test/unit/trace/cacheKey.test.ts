/**
 * A trace file's parse-cache key (trace/parseCache.ts cacheKeyOf): its head's hash, kept per file
 * in the process, stands only for the bytes it hashed. A file rewritten in place with the same
 * size and its mtime set back (as `touch -r` or `cp -p` leave it) gets a new head.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKeyOf } from '../../../trace/parseCache';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-cachekey-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a file's key follows its bytes, even when its size and mtime are kept", async () => {
  const file = path.join(dir, 'rank-0.json');
  fs.writeFileSync(file, JSON.stringify({ traceEvents: [{ ph: 'X', name: 'a', ts: 1, dur: 2 }] }));
  // Whole seconds, so that setting them back gives the very same mtime.
  const when = 1_700_000_000;
  fs.utimesSync(file, when, when);
  const first = cacheKeyOf(file, 0, 'code');
  assert.deepEqual(cacheKeyOf(file, 0, 'code'), first, 'the same file, the same key');
  // Another first byte, the same size, the mtime set back: only the head (and the ctime) differ.
  await new Promise((r) => setTimeout(r, 20));
  const bytes = fs.readFileSync(file);
  bytes[bytes.indexOf('a'.charCodeAt(0), 20)] = 'b'.charCodeAt(0);
  fs.writeFileSync(file, bytes);
  fs.utimesSync(file, when, when);
  const st = fs.statSync(file);
  assert.equal(st.mtimeMs, first.mtimeMs);
  assert.equal(st.size, first.size);
  const again = cacheKeyOf(file, 0, 'code');
  assert.notEqual(again.head, first.head, 'the head hash of the new bytes');
  // A file put in its place (a new inode) with the same size and mtime: its own head too.
  const other = path.join(dir, 'other.json');
  fs.writeFileSync(other, fs.readFileSync(file).toString().replace('"ts":1', '"ts":2'));
  fs.utimesSync(other, when, when);
  fs.renameSync(other, file);
  const third = cacheKeyOf(file, 0, 'code');
  assert.notEqual(third.head, again.head);
  assert.notEqual(third.head, first.head);
});
