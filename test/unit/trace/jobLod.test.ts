/**
 * The level-of-detail index of a job made of its ranks' indexes (trace/rankLod.ts, built from
 * each rank's columns, read back from its file; trace/jobLod.ts putting them together) answers
 * every view as trace/lod.ts LodIndex does over the importer's model of the whole job: the same
 * slices (model indexes), merged counts, flows and counter samples at every level, with the
 * kept slices and their flows, and encodings that decode to the same columns; searches and the
 * whole-trace encoding too. On the Kineto fixture pair, on a 4-rank job with per-rank clock
 * offsets (bench/scaleJobs.ts's generator) and on the synthetic run of test/helpers.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { decodeTrace, encodeTrace, sliceArgsJson, type BinaryTrace } from '../../../trace/binary';
import { importKinetoFolder } from '../../../trace/kineto';
import { scanKinetoFile } from '../../../trace/kinetoScan';
import { LodIndex, type ViewRequest } from '../../../trace/lod';
import type { TraceModel } from '../../../trace/model';
import { buildRankLod, rankFullModel, RankLodFile, writeRankLod } from '../../../trace/rankLod';
import { JobLod } from '../../../trace/jobLod';
import type { CacheKey } from '../../../trace/parseCache';
import { buildJob } from '../../../bench/scaleJobs';
import { viewerRun } from '../../helpers/syntheticRun';
import { fixturesDir } from '../../helpers/paths';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-joblod-'));
const opened: JobLod[] = [];
after(() => {
  for (const j of opened) j.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const key = (file: string, rank: number): CacheKey => ({
  format: 1,
  code: 'test',
  file,
  size: 0,
  mtimeMs: 0,
  head: '',
  rank,
});

/** An index file of `model`, read back. */
function indexFile(model: TraceModel, name: string): RankLodFile {
  const file = path.join(tmp, `${name}.lod`);
  writeRankLod(file, key(file, 0), buildRankLod(model));
  const r = RankLodFile.open(file, key(file, 0));
  assert.ok(r, `${file} reads back`);
  return r;
}

/** Asserts that the job of `model`'s one index file answers as LodIndex over `model` (args read whole). */
function answersAsLodIndex(model: TraceModel, name: string): void {
  const job = new JobLod([indexFile(model, name)]);
  opened.push(job);
  sameAnswers(job, new LodIndex(model), true);
}

/** Index files of the shared Kineto pair in `dir` (`prefix`-0.lod, -1.lod), each built from its scanned columns as the scan worker does. */
async function fixtureIndexFiles(dir: string, prefix: string): Promise<string[]> {
  const files = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) =>
    fixturesDir('kineto', 'hta-sampled', f),
  );
  const lodFiles: string[] = [];
  for (const [i, f] of files.entries()) {
    const file = path.join(dir, `${prefix}-${i}.lod`);
    writeRankLod(file, key(file, 0), buildRankLod(rankFullModel(await scanKinetoFile(f), { fileName: f })));
    lodFiles.push(file);
  }
  return lodFiles;
}

/** The job index of Kineto rank files, each built from its scanned columns as the scan worker does. */
async function jobOf(files: string[], opts: { residentBytes?: number } = {}): Promise<JobLod> {
  const ranks: RankLodFile[] = [];
  for (const [i, f] of files.entries())
    ranks.push(indexFile(rankFullModel(await scanKinetoFile(f), { fileName: f }), `${path.basename(f)}-${i}`));
  const j = new JobLod(ranks, opts);
  opened.push(j);
  return j;
}

/** bench/scaleJobs.ts's 4-rank job with per-rank clock offsets, and LodIndex over the importer's model of it: made once, shared by the tests. */
let fourRank: Promise<{ built: Awaited<ReturnType<typeof buildJob>>; ref: LodIndex }> | undefined;
function fourRankJob(): Promise<{ built: Awaited<ReturnType<typeof buildJob>>; ref: LodIndex }> {
  fourRank ??= (async () => {
    process.env.COMMLENS_SCALE_CACHE ??= path.join(tmp, 'jobs');
    const built = await buildJob(
      { name: 'joblod-4', ranks: 4, bytesPerRank: 3_000_000, gzip: false },
      fixturesDir('kineto', 'hta-sampled'),
    );
    return { built, ref: new LodIndex(await importKinetoFolder(built.files)) };
  })();
  return fourRank;
}

/** Views over the extent: overview, zoomed windows at several resolutions, a track subset, kept slices. */
function requests(lod: LodIndex): ViewRequest[] {
  const [t0, t1] = lod.extentNs;
  const span = t1 - t0;
  const out: ViewRequest[] = [{ startNs: t0, endNs: t1, nsPerPx: Math.max(1, span / 2000) }];
  for (const px of [200, 1_000, 5_000, 40_000, 500_000])
    for (const f of [0.1, 0.45, 0.8]) {
      const a = t0 + span * f;
      out.push({ startNs: a, endNs: a + px * 1500, nsPerPx: px });
    }
  out.push({ startNs: t0, endNs: t1, nsPerPx: 1 }); // every slice: LOD_MAX_SLICES may move it up
  const tracks = lod.model.tracks.map((_, i) => i).filter((i) => i % 3 === 1);
  out.push({ startNs: t0 + span * 0.3, endNs: t0 + span * 0.6, nsPerPx: 20_000, tracks });
  const n = lod.model.slices.length;
  const withFlow = lod.model.flows.slice(0, 3).map((f) => f.from);
  out.push({ startNs: t0, endNs: t0 + 1000, nsPerPx: 2, keep: [0, Math.floor(n / 2), n - 1, ...withFlow] });
  return out;
}

/** Decoded columns, with each slice's model index and args as objects. */
function columns(b: BinaryTrace) {
  const n = b.sliceTrack.length;
  const rows = [];
  for (let k = 0; k < n; k++)
    rows.push({
      source: b.sliceSource ? b.sliceSource[k] : k,
      track: b.sliceTrack[k],
      start: b.sliceStart[k],
      dur: b.sliceDur[k],
      name: b.string(b.sliceName[k]),
      category: b.sliceCategory[k],
      depth: b.sliceDepth[k],
      merged: b.sliceMerged ? b.sliceMerged[k] : 1,
      args: b.sliceArgs[k] >= 0 ? (JSON.parse(b.string(b.sliceArgs[k])) as Record<string, unknown>) : {},
    });
  return {
    header: { ...b.header, sections: undefined },
    rows,
    flows: Array.from(b.flowFrom, (f, i) => [f, b.flowTo[i], b.flowId[i]]),
    counters: [
      Array.from(b.counterTrack),
      Array.from(b.counterOffset),
      Array.from(b.counterTs),
      Array.from(b.counterValue),
    ],
  };
}

/**
 * Equal views. Args: the index holds the args the Kineto scan keeps (trace/kinetoScan.ts: ids,
 * stream, collective and memory args, Input Dims/type, flops), the importer every arg of the
 * JSON: each arg the index sends is the importer's.
 */
function sameEncoding(jobBuf: ArrayBuffer, refBuf: ArrayBuffer, what: string, argsWhole: boolean): void {
  const a = columns(decodeTrace(jobBuf)),
    b = columns(decodeTrace(refBuf));
  // Fewer args, fewer strings: the string table's size is compared only where args are whole.
  const header = (h: typeof a.header) => (argsWhole ? h : { ...h, stringCount: undefined });
  assert.deepEqual(header(a.header), header(b.header), `${what}: header`);
  assert.equal(a.rows.length, b.rows.length, `${what}: slice count`);
  for (let k = 0; k < a.rows.length; k++) {
    const x = a.rows[k],
      y = b.rows[k];
    if (argsWhole) assert.deepEqual(x, y, `${what}: slice ${k}`);
    else {
      assert.deepEqual({ ...x, args: undefined }, { ...y, args: undefined }, `${what}: slice ${k}`);
      for (const [name, v] of Object.entries(x.args))
        assert.deepEqual(v, y.args[name], `${what}: slice ${k} arg ${name}`);
    }
  }
  assert.deepEqual(a.flows, b.flows, `${what}: flows`);
  assert.deepEqual(a.counters, b.counters, `${what}: counters`);
}

function sameAnswers(job: JobLod, ref: LodIndex, argsWhole: boolean): void {
  assert.equal(job.sliceCount, ref.model.slices.length);
  assert.deepEqual(job.extentNs, ref.extentNs);
  assert.deepEqual(job.bucketNs, ref.bucketNs);
  assert.deepEqual(job.trackDepths, ref.trackDepths);
  assert.deepEqual(job.model.warnings, ref.model.warnings);
  let merging = 0;
  for (const req of requests(ref)) {
    const what = `view ${JSON.stringify({ ...req, keep: req.keep?.length, tracks: req.tracks?.length })}`;
    const a = job.query(req),
      b = ref.query(req);
    assert.equal(a.level, b.level, `${what}: level`);
    assert.deepEqual(Array.from(a.slices), Array.from(b.slices), `${what}: slices`);
    assert.deepEqual(Array.from(a.merged), Array.from(b.merged), `${what}: merged`);
    assert.deepEqual(a.flows, b.flows, `${what}: flows`);
    assert.deepEqual(
      a.counterSamples.map((c) => Array.from(c)),
      b.counterSamples.map((c) => Array.from(c)),
      `${what}: counters`,
    );
    if (a.merged.some((m) => m > 1)) merging++;
    sameEncoding(job.encode(req), ref.encode(req), what, argsWhole);
  }
  assert.ok(merging >= 1, `some views merge slices (${merging})`);
  sameEncoding(job.overview(), ref.overview(), 'overview', argsWhole);
  for (const q of ['nccl', 'ProfilerStep', 'kernel', 'zzz-no-such-name', ''])
    assert.deepEqual(job.search(q, 50), ref.search(q, 50), `search '${q}'`);
  // The whole trace and a window of it, as trace/binary.ts encodeTrace over the model.
  const [t0, t1] = ref.extentNs;
  sameEncoding(job.encodeTrace(), encodeTrace(ref.model), 'whole', argsWhole);
  const win = { window: { startNs: t0 + (t1 - t0) * 0.4, endNs: t0 + (t1 - t0) * 0.5 }, minDurNs: 2000 };
  sameEncoding(job.encodeTrace(win), encodeTrace(ref.model, win), 'window', argsWhole);
}

describe('job level-of-detail index (per-rank indexes)', () => {
  it('answers as LodIndex over the importer model on the Kineto fixture pair', async () => {
    const files = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) =>
      fixturesDir('kineto', 'hta-sampled', f),
    );
    const ref = new LodIndex(await importKinetoFolder(files));
    sameAnswers(await jobOf(files), ref, false);
  });

  it('answers as LodIndex on a 4-rank job whose ranks have their own clock offsets', async () => {
    const { built, ref } = await fourRankJob();
    sameAnswers(await jobOf(built.files), ref, false);
  });

  it("holds no more ranks' columns than its budget: one rank at a time, it answers as LodIndex all the same", async () => {
    const { built, ref } = await fourRankJob();
    // A budget under any rank's columns: each rank is read when an answer needs it, the one before let go.
    const one = await jobOf(built.files, { residentBytes: 1 });
    const held: number[] = [];
    const answer = one.query.bind(one);
    one.query = (req) => {
      const a = answer(req);
      held.push(one.resident.ranks);
      return a;
    };
    sameAnswers(one, ref, false);
    assert.ok(held.length > 10 && held.every((n) => n === 1), `ranks held after each view: ${held.join(' ')}`);
    assert.equal(one.loadNext(), false, 'nothing more is read in the background when the budget is full');
    // A search reads each rank at most twice (its hits, then their tracks), not once per hit in time order.
    const before = one.resident.reads;
    assert.ok(one.search('a', 5000).slices.length > 100);
    assert.ok(one.resident.reads - before <= 2 * built.files.length, `${one.resident.reads - before} reads`);

    // A view of one rank's tracks reads that rank's columns only (the others' counters and lists are in their metas).
    const whole = await jobOf(built.files);
    const rank2 = whole.model.tracks.flatMap((t, i) => (t.pid === whole.model.processes[2].pid ? [i] : []));
    assert.ok(rank2.length > 0);
    const [t0, t1] = whole.extentNs;
    whole.encode({ startNs: t0, endNs: t1, nsPerPx: (t1 - t0) / 1000, tracks: rank2 });
    assert.equal(whole.resident.ranks, 1, 'one rank read for a view of its tracks');

    // In the background, ranks are read while they fit in half the budget: half of five ranks' bytes holds two.
    const size = one.resident.bytes;
    const two = await jobOf(built.files, { residentBytes: 5 * size });
    while (two.loadNext());
    assert.equal(two.resident.ranks, 2);
    assert.ok(two.resident.bytes <= 2.5 * size);
    // The overview, encoded once and kept, reads every rank and lets them go down to half the budget after.
    const three = await jobOf(built.files, { residentBytes: 5 * size });
    three.overview();
    assert.ok(three.resident.bytes <= 2.5 * size && three.resident.ranks === 2, `${three.resident.ranks} ranks held`);
    // An answer that reads every rank keeps them (they fit); the next answer, of one rank, lets
    // the others go down to half the budget, least recently used first, and keeps its own.
    two.encodeTrace();
    assert.equal(two.resident.ranks, 4);
    two.query({ startNs: t0, endNs: t1, nsPerPx: (t1 - t0) / 1000, tracks: rank2 });
    assert.ok(two.resident.bytes <= 2.5 * size, `${two.resident.bytes} bytes held`);
    assert.equal(two.resident.ranks, 2);
    const held2 = two.encode({ startNs: t0, endNs: t1, nsPerPx: (t1 - t0) / 1000, tracks: rank2 });
    assert.deepEqual(
      new Uint8Array(held2),
      new Uint8Array(whole.encode({ startNs: t0, endNs: t1, nsPerPx: (t1 - t0) / 1000, tracks: rank2 })),
    );
  });

  it('answers as LodIndex on the synthetic run (one rank index of a whole model, counters kept whole or by level)', () => {
    answersAsLodIndex(viewerRun({ ranks: 2, steps: 3 }), 'synthetic');
  });

  it('answers as LodIndex on a model whose slices are not in track and start order (positions sorted, not partitioned)', () => {
    const model = viewerRun({ ranks: 2, steps: 3 });
    // The same slices in a shuffled order, flows following them.
    const n = model.slices.length;
    const perm = Array.from({ length: n }, (_, i) => i);
    let seed = 7;
    for (let i = n - 1; i > 0; i--) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      const j = seed % (i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const where = new Array<number>(n);
    perm.forEach((old, i) => (where[old] = i));
    const shuffled: TraceModel = {
      ...model,
      slices: perm.map((old) => model.slices[old]),
      flows: model.flows.map((f) => ({ ...f, from: where[f.from], to: where[f.to] })),
    };
    answersAsLodIndex(shuffled, 'shuffled');
  });

  it("reads back every slice's args, multi-byte text across the blob's 4 MiB chunks included", () => {
    const model = viewerRun({ ranks: 1, steps: 1 });
    const n = model.slices.length;
    // About 6 MiB of args: ASCII, two- and three-byte UTF-8 and astral characters.
    const text = ['ascii', 'é ü ß', '漢字かな', '🚀 ∑'];
    const per = Math.ceil((6 << 20) / n);
    model.slices.forEach((s, i) => {
      s.args = { ...(s.args ?? {}), note: `${i}:${text[i % 4].repeat(Math.ceil(per / 8))}` };
    });
    const file = indexFile(model, 'multibyte');
    const d = file.data;
    const positions = Array.from({ length: d.idx.length }, (_, p) => p);
    const got = file.readArgs(positions);
    assert.ok(d.argsAt[d.idx.length] > 5 << 20, `blob of ${d.argsAt[d.idx.length]} bytes`);
    positions.forEach((p) => assert.equal(got[p], sliceArgsJson(model.slices[d.idx[p]]), `position ${p}`));
    file.close();
  });

  it('refuses an index whose columns check but whose layout does not, saying which file and what to do', () => {
    const file = path.join(tmp, 'layout.lod');
    writeRankLod(file, key(file, 0), buildRankLod(viewerRun({ ranks: 1, steps: 1 })));
    const b = fs.readFileSync(file);
    const hl = b.readUInt32LE(8);
    const h = JSON.parse(b.toString('utf8', 12, 12 + hl)) as {
      meta: number;
      columns: number;
      crc32?: number;
      sha1: string;
    };
    // The layout's first field (the skeleton's length) made to point past the columns, and the
    // checksums made again over the changed bytes, so that only the layout is wrong.
    const at = 12 + hl + h.meta;
    b.writeUInt32LE(h.columns, at);
    const cols = b.subarray(at, at + h.columns);
    if (h.crc32 !== undefined) h.crc32 = (zlib as unknown as { crc32(b: Uint8Array): number }).crc32(cols);
    h.sha1 = createHash('sha1').update(cols).digest('hex');
    const header = Buffer.from(JSON.stringify(h), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    fs.writeFileSync(file, Buffer.concat([b.subarray(0, 8), len, header, b.subarray(12 + hl)]));
    const r = RankLodFile.open(file, key(file, 0));
    assert.ok(r, 'the header and the meta still read');
    assert.throws(
      () => r.data,
      (e: Error) =>
        e.message.includes(file) &&
        /corrupt \(its columns do not match their own layout\).*open it again/.test(e.message),
    );
    assert.equal(fs.existsSync(file), false, 'dropped, so that opening it again makes it again');
    r.close();
  });

  it('drops an index whose header matches but whose meta does not check; keeps one of another key', () => {
    const file = path.join(tmp, 'meta.lod');
    writeRankLod(file, key(file, 0), buildRankLod(viewerRun({ ranks: 1, steps: 1 })));
    // Another key (a stale index): not this one's, and left for the scan to write over.
    assert.equal(RankLodFile.open(file, key(file, 1)), undefined);
    assert.ok(fs.existsSync(file));
    const b = fs.readFileSync(file);
    const hl = b.readUInt32LE(8);
    const h = JSON.parse(b.toString('utf8', 12, 12 + hl)) as { meta: number };
    b[12 + hl + Math.floor(h.meta / 2)] ^= 0xff;
    fs.writeFileSync(file, b);
    // The scan looks at the header only: left there, it would be taken for made, and every open would fail on it.
    assert.equal(RankLodFile.open(file, key(file, 0)), undefined);
    assert.equal(fs.existsSync(file), false, 'dropped, so that opening the job again makes it again');
  });

  it('keeps the encoded overview beside the indexes: a re-open reads it, a corrupt one is made again', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'overview-'));
    // The ranks' index files, made once and opened anew for each JobLod (as a re-open does).
    const lodFiles = await fixtureIndexFiles(dir, 'ov');
    const ranks = async () => lodFiles.map((f) => RankLodFile.open(f, key(f, 0))!);
    const first = new JobLod(await ranks(), { overviewDir: dir });
    opened.push(first);
    const made = first.overview();
    const kept = fs.readdirSync(dir).filter((f) => f.endsWith('.overview'));
    assert.equal(kept.length, 1, 'one overview kept');
    const file = path.join(dir, kept[0]);
    // A re-open reads it: a kept overview with other (checked) bytes is what comes back.
    const other = new Uint8Array(made.slice(0));
    other[other.length - 1] ^= 0xff;
    const sha = createHash('sha1').update(other).digest('hex');
    fs.writeFileSync(file, Buffer.concat([Buffer.from(`CLOVW01\n${sha}`, 'latin1'), other]));
    const second = new JobLod(await ranks(), { overviewDir: dir });
    opened.push(second);
    assert.deepEqual(new Uint8Array(second.overview()), other);
    // One whose bytes do not check is ignored and made again.
    fs.writeFileSync(file, Buffer.concat([Buffer.from(`CLOVW01\n${'0'.repeat(40)}`, 'latin1'), other]));
    const third = new JobLod(await ranks(), { overviewDir: dir });
    opened.push(third);
    assert.deepEqual(new Uint8Array(third.overview()), new Uint8Array(made));
    // Other warnings (a rank left out) are another overview.
    const fourth = new JobLod(await ranks(), { overviewDir: dir });
    opened.push(fourth);
    fourth.model.warnings.push('a rank left out');
    fourth.overview();
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.overview')).length, 2);
  });

  it("a re-open reads only each index's meta; the columns are read and checked when an answer first needs them", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'lazy-'));
    const lodFiles = await fixtureIndexFiles(dir, 'lazy');
    const open = () => lodFiles.map((f) => RankLodFile.open(f, key(f, 0))!);
    const whole = new JobLod(open(), { overviewDir: dir });
    opened.push(whole);
    const overview = whole.overview();
    const [t0, t1] = whole.extentNs;
    const zoom = { startNs: (t0 + t1) / 2, endNs: (t0 + t1) / 2 + 2e6, nsPerPx: 1000 };
    const zoomed = whole.encode(zoom);
    // One byte of rank 1's columns flipped: the meta still checks, so the index opens.
    const file = lodFiles[1];
    const b = fs.readFileSync(file);
    const hl = b.readUInt32LE(8);
    const h = JSON.parse(b.toString('utf8', 12, 12 + hl)) as { meta: number; columns: number };
    b[12 + hl + h.meta + Math.floor(h.columns / 2)] ^= 0xff;
    fs.writeFileSync(file, b);
    const ranks = open();
    assert.ok(
      ranks.every((r) => r !== undefined && !r.loaded),
      'opened without reading the columns',
    );
    const job = new JobLod(ranks, { overviewDir: dir });
    opened.push(job);
    assert.deepEqual([job.sliceCount, job.extentNs], [whole.sliceCount, whole.extentNs]);
    // The kept overview needs no columns.
    assert.deepEqual(new Uint8Array(job.overview()), new Uint8Array(overview));
    assert.ok(ranks.every((r) => !r.loaded));
    // Rank 0's columns load; rank 1's do not check, and the answer says which file and what to do.
    assert.equal(job.loadNext(), true);
    assert.ok(ranks[0].loaded);
    assert.throws(
      () => job.encode(zoom),
      (e: Error) => e.message.includes(file) && /corrupt .* open it again to rebuild it/.test(e.message),
    );
    assert.equal(fs.existsSync(file), false, 'dropped, so that opening the job again makes it again');
    // Untouched, the lazily read job answers as the one read whole.
    fs.writeFileSync(
      file,
      Buffer.from(b.map((x, k) => (k === 12 + hl + h.meta + Math.floor(h.columns / 2) ? x ^ 0xff : x))),
    );
    const again = new JobLod(open(), { overviewDir: dir });
    opened.push(again);
    assert.deepEqual(new Uint8Array(again.encode(zoom)), new Uint8Array(zoomed));
    while (again.loadNext());
    assert.deepEqual(new Uint8Array(again.overview()), new Uint8Array(overview));
  });
});
