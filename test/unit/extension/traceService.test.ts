/**
 * The host's trace service on real files: the two ranks of the fixture PyTorch (Kineto)
 * job import as one model whose analysis, adapted for the webview, carries Holistic Trace
 * Analysis' own figures for that pair; files that cannot be parsed give a message naming
 * the file and what the parser said, never an exception or an empty view.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  loadAndAnalyze,
  toArrayBuffer,
  jobName,
  jsonBytesOf,
  scanWorkersFor,
  writableCacheDir,
  SCAN_PEAK_FIXED_BYTES,
  SCAN_PEAK_PER_JSON_BYTE,
  isKinetoJob,
  openKinetoJob,
  backend,
  runSummarySuggestions,
} from '../../../extension/traceService';
import { checkRunConfig } from '../../../cli/runConfigCheck';
import { rankLodBytes } from '../../../trace/rankLod';
import { syntheticRun } from '../../helpers/syntheticRun';
import type { Args } from '../../../trace/model';
import * as zlib from 'node:zlib';
const { gzipSync } = zlib;
import { analyze } from '../../../analysis/index';
import type { AnalysisView } from '../../../webview/protocol';
import { fixturesDir } from '../../helpers/paths';

const KINETO = fixturesDir('kineto', 'hta-sampled');
const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('trace service', () => {
  it('imports the per-rank Kineto files of one job and adapts the analysis for the webview', async () => {
    const files = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) => path.join(KINETO, f));
    const t = await loadAndAnalyze(files);
    assert.ok(t.ok, t.ok ? '' : t.message);
    if (!t.ok) return;
    assert.equal(t.title, 'hta-sampled (2 ranks)');
    const view = t.analysis as AnalysisView;
    assert.deepEqual(
      view.ranks.map((r) => r.rank),
      [0, 1],
    );
    // Holistic Trace Analysis 0.6.1 on this pair, default options (fixtures README), µs.
    const hta = [
      { idle: 321378, compute: 106252, nonCompute: 172428, span: 600058, overlapPct: 11.81 },
      { idle: 328671, compute: 135548, nonCompute: 136455, span: 600674, overlapPct: 20.05 },
    ];
    for (const [i, r] of view.ranks.entries()) {
      assert.ok(Math.abs(r.idleNs / 1e3 - hta[i].idle) <= 1, `rank ${i} idle ${r.idleNs / 1e3} µs`);
      assert.ok(Math.abs(r.computeNs / 1e3 - hta[i].compute) <= 1, `rank ${i} compute`);
      assert.ok(Math.abs(r.nonComputeNs / 1e3 - hta[i].nonCompute) <= 1, `rank ${i} non-compute`);
      assert.ok(Math.abs(r.spanNs / 1e3 - hta[i].span) <= 1, `rank ${i} span`);
      assert.ok(Math.abs(r.overlapPct - hta[i].overlapPct) < 0.01, `rank ${i} overlap ${r.overlapPct}`);
      assert.ok(r.exposedCommNs > 0 && r.steps && r.steps.length === 1 && r.steps[0].step === 551);
    }
    assert.ok(view.stepTimeNs !== undefined && view.stepTimeNs > 0);
    // The advisor's ranked suggestions, in its order, with what the panel shows of each.
    const raw = analyze(t.model).suggestions;
    assert.ok(raw.length >= 1, 'the advisor has something to say about this job');
    assert.deepEqual(
      view.suggestions.map((s) => s.id),
      raw.map((s) => s.id),
    );
    for (const [i, s] of view.suggestions.entries()) {
      assert.equal(s.title, raw[i].title);
      assert.equal(s.kind, raw[i].kind);
      assert.equal(s.predicted.stepTimeNs, raw[i].predicted.stepTimeNs);
      assert.equal(s.predicted.baselineStepTimeNs, raw[i].predicted.baselineStepTimeNs);
      assert.deepEqual(s.configChange, raw[i].configChange);
      assert.ok(s.evidence.sliceIndexes.every((k) => k >= 0 && k < t.model.slices.length));
      if (raw[i].evidence.text) assert.equal(s.detail, raw[i].evidence.text);
    }
  });

  it("names the file and the parser's reason for a file that cannot be parsed", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-bad-'));
    made.push(d);
    const bad = path.join(d, 'broken.pftrace');
    fs.writeFileSync(bad, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]));
    const t = await loadAndAnalyze([bad]);
    assert.equal(t.ok, false);
    if (t.ok) return;
    assert.equal(t.title, 'broken.pftrace');
    assert.ok(t.message.startsWith('Cannot open '), t.message);
    assert.ok(t.message.includes(bad), t.message);
    assert.match(t.message, /at byte \d+: not a Perfetto protobuf trace/);
    const missing = await loadAndAnalyze([path.join(d, 'nope.pftrace')]);
    assert.equal(missing.ok, false);
    assert.match(!missing.ok ? missing.message : '', /nope\.pftrace/);
  });

  it("names a job after its run when its traces sit in the run's kineto/ folder", () => {
    assert.equal(jobName('/runs/pytorch-20261123-0700-ab12/kineto'), 'pytorch-20261123-0700-ab12');
    assert.equal(jobName('/data/hta-sampled'), 'hta-sampled');
  });

  it('hands the webview an ArrayBuffer of exactly the encoded bytes', () => {
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    assert.deepEqual([...new Uint8Array(toArrayBuffer(view))], [1, 2, 3]);
    const ab = new ArrayBuffer(2);
    assert.equal(toArrayBuffer(ab), ab);
  });

  it("reads as many ranks at once as the memory budget holds at a scan worker's peak, at least one", () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-workers-'));
    made.push(d);
    const plain = path.join(d, 'rank-0.json');
    fs.writeFileSync(plain, 'x'.repeat(1000));
    const gz = path.join(d, 'rank-1.json.gz');
    fs.writeFileSync(gz, gzipSync(Buffer.from('y'.repeat(50_000))));
    assert.equal(jsonBytesOf(plain), 1000);
    assert.equal(jsonBytesOf(gz), 50_000, 'a gzip file counts its inflated size (its trailer)');
    const one = SCAN_PEAK_FIXED_BYTES + SCAN_PEAK_PER_JSON_BYTE * 50_000;
    assert.equal(scanWorkersFor([plain, gz], one * 3, 16), 2, 'no more than the files');
    assert.equal(scanWorkersFor([plain, gz, gz, gz], one * 3, 16), 3, 'as many as the budget holds');
    assert.equal(scanWorkersFor([plain, gz, gz, gz], one * 3 - 1, 16), 2, "a worker's fixed part counts");
    assert.equal(scanWorkersFor([plain, gz, gz, gz], one * 3, 2), 2, 'no more than the cores');
    assert.equal(scanWorkersFor([plain, gz], 1, 16), 1, 'at least one');
  });

  it('opens a Kineto job only when every file is Kineto, and says what failed', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-kjob-'));
    made.push(d);
    const pair = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) => path.join(KINETO, f));
    assert.equal(await isKinetoJob(pair), true);
    const other = path.join(d, 'other.json');
    fs.writeFileSync(other, JSON.stringify({ traceEvents: [{ ph: 'X', name: 'a', ts: 1, dur: 2, pid: 1, tid: 1 }] }));
    assert.equal(await isKinetoJob([pair[0], other]), false);
    assert.equal(await isKinetoJob([path.join(d, 'missing.json')]), false);
    assert.equal(writableCacheDir(path.join(d, 'x.json'), {}), path.join(d, '.commlens-cache'));
    // A rank cut short: the job opens from the other rank, with the cut one named.
    const cut = path.join(d, 'rank-1.json');
    const whole = zlib.gunzipSync(fs.readFileSync(pair[1]));
    fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const t = await openKinetoJob([pair[0], cut], { cacheDir: path.join(d, 'cache') });
    assert.ok(t.ok, t.ok ? '' : t.message);
    if (!t.ok) return;
    assert.ok(
      t.job.model.warnings.some((w) => w.includes(cut) && /left out/.test(w)),
      t.job.model.warnings.join('\n'),
    );
    assert.equal(t.analysis?.ranks.length, 1);
    t.job.close();
    const none = await openKinetoJob([cut], { cacheDir: path.join(d, 'cache') });
    assert.equal(none.ok, false);
    if (!none.ok) assert.ok(none.message.includes(cut), none.message);
  });

  it("opens a job whose indexes are larger than the memory budget, holding no more ranks' columns than it allows", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-kjob-budget-'));
    made.push(d);
    const pair = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) => path.join(KINETO, f));
    const cacheDir = path.join(d, 'cache');
    const first = await openKinetoJob(pair, { cacheDir });
    assert.ok(first.ok, first.ok ? '' : first.message);
    if (!first.ok) return;
    const [t0, t1] = first.job.extentNs;
    const zoom = { startNs: t0, endNs: t1, nsPerPx: 1 };
    const expected = new Uint8Array(first.job.encode(zoom));
    first.job.close();
    const sizes = fs
      .readdirSync(cacheDir)
      .filter((f) => f.endsWith('.lod'))
      .map((f) => rankLodBytes(path.join(cacheDir, f)));
    assert.equal(sizes.length, 2);
    const metas = sizes[0].meta + sizes[1].meta;
    const largest = Math.max(sizes[0].columns, sizes[1].columns);
    // Room for the metas and one rank's columns, not both (until 2026-12-04 such a job was refused).
    const budget = metas + largest + 1024;
    assert.ok(budget < metas + sizes[0].columns + sizes[1].columns);
    const t = await openKinetoJob(pair, { cacheDir, maxTraceBytes: budget });
    assert.ok(t.ok, t.ok ? '' : t.message);
    if (!t.ok) return;
    assert.deepEqual(new Uint8Array(t.job.encode(zoom)), expected, 'the same answer, one rank at a time');
    assert.equal(t.job.resident.ranks, 1);
    assert.ok(t.job.resident.bytes <= budget - metas);
    t.job.close();
    // Without room for the largest rank's columns, no view of it can be answered: refused, saying what it needs.
    const tight = await openKinetoJob(pair, { cacheDir, maxTraceBytes: metas + largest - 1 });
    assert.equal(tight.ok, false);
    if (!tight.ok) {
      assert.match(tight.message, /largest rank's columns.*raise the limit with --max-trace-bytes/s, tight.message);
      // The place is said once.
      assert.match(tight.message, /^Cannot open 2 files in [^:]*: this trace needs/, tight.message);
    }
  });

  it('a damaged index: the view that meets it says so, and opening the job again makes it again', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-kjob-damaged-'));
    made.push(d);
    const pair = ['sampled_rank-0.json.gz', 'sampled_rank-1.json.gz'].map((f) => path.join(KINETO, f));
    const cacheDir = path.join(d, 'cache');
    const open = async () => {
      const t = await openKinetoJob(pair, { cacheDir });
      assert.ok(t.ok, t.ok ? '' : t.message);
      return t as Extract<typeof t, { ok: true }>;
    };
    const first = await open();
    const [t0, t1] = first.job.extentNs;
    const zoom = { startNs: t0, endNs: t1, nsPerPx: 1 };
    const expected = new Uint8Array(first.job.encode(zoom));
    first.job.close();
    const lod = path.join(cacheDir, fs.readdirSync(cacheDir).filter((f) => f.endsWith('.lod'))[0]);
    const damage = (part: 'meta' | 'columns') => {
      const b = fs.readFileSync(lod);
      const hl = b.readUInt32LE(8);
      const h = JSON.parse(b.toString('utf8', 12, 12 + hl)) as { meta: number; columns: number };
      b[12 + hl + (part === 'meta' ? Math.floor(h.meta / 2) : h.meta + Math.floor(h.columns / 2))] ^= 0xff;
      fs.writeFileSync(lod, b);
    };
    // Its columns: read when a view needs them, which fails, naming the file and what to do.
    damage('columns');
    const hurt = await open();
    assert.throws(
      () => hurt.job.encode(zoom),
      (e: Error) => e.message.includes(lod) && /corrupt .* open it again to rebuild it/.test(e.message),
    );
    hurt.job.close();
    // Done as it says: opened again, the index is made again and answers as before.
    const again = await open();
    assert.deepEqual(new Uint8Array(again.job.encode(zoom)), expected);
    again.job.close();
    // Its meta: read when the job is opened, which makes it again at once.
    damage('meta');
    const meta = await open();
    assert.deepEqual(new Uint8Array(meta.job.encode(zoom)), expected);
    meta.job.close();
  });
});

describe('a CommLens run in the trace panel', () => {
  /** A 4-rank gpt-mini DDP run (the synthetic generator's, with a gpt-mini config) that has layout suggestions. */
  const gptRun = () => {
    const m = syntheticRun({
      ranks: 4,
      steps: 5,
      gradBytes: 1_000_000,
      bytesPerNs: 0.05,
      alphaNs: 20_000,
      memory: true,
    });
    const info = m.meta.info as Args;
    const config = JSON.parse(info.config as string) as Record<string, unknown>;
    const model = {
      kind: 'gpt-mini',
      batchSize: 8,
      layers: 4,
      heads: 4,
      dModel: 64,
      seqLen: 32,
      vocab: 32,
      task: 'copy',
    };
    Object.assign(config, { model, strategy: 'ddp', link: 'eth-100g' });
    delete config.peakFlops;
    delete config.strategyOptions;
    info.config = JSON.stringify(config);
    info.strategy = 'ddp';
    return m;
  };

  it('shows the suggestions the CLI wrote into the run’s summary.json (layouts need the runtime’s check)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'commlens-run-'));
    made.push(dir);
    const trace = path.join(dir, 'trace.pftrace');
    fs.writeFileSync(trace, '');
    const m = gptRun();
    const be = { ...backend, loadTraceFile: async () => m };
    const ids = async () => {
      const t = await loadAndAnalyze([trace], be);
      assert.ok(t.ok && t.analysis);
      return t.ok ? (t.analysis as AnalysisView).suggestions.map((s) => s.id) : [];
    };
    // Without a summary: the panel's own advisor, which has no runtime check, so no layouts.
    const own = analyze(m).suggestions;
    assert.equal(own.filter((s) => s.kind === 'layout').length, 0);
    assert.deepEqual(
      await ids(),
      own.map((s) => s.id),
    );
    // With the CLI's analysis in summary.json (as `commlens profile` writes it): its list, layouts included.
    const cli = analyze(m, { checkRunConfig });
    const layouts = cli.suggestions.filter((s) => s.kind === 'layout');
    assert.ok(layouts.length > 0, 'the CLI offers layouts for this run');
    const summary = { tracePath: '/elsewhere/run/trace.pftrace', analysis: cli };
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary));
    assert.deepEqual(
      await ids(),
      cli.suggestions.map((s) => s.id),
    );
    assert.deepEqual(runSummarySuggestions(trace), JSON.parse(JSON.stringify(cli.suggestions)));
    // A summary of another trace, or of another analysis schema, is not taken.
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ ...summary, tracePath: '/x/other.pftrace' }));
    assert.equal(runSummarySuggestions(trace), undefined);
    fs.writeFileSync(
      path.join(dir, 'summary.json'),
      JSON.stringify({ ...summary, analysis: { ...cli, schemaVersion: cli.schemaVersion + 1 } }),
    );
    assert.equal(runSummarySuggestions(trace), undefined);
    assert.deepEqual(
      await ids(),
      own.map((s) => s.id),
    );
  });
});
