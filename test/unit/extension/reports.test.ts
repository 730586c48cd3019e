import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { environmentMarkdown } from '../../../extension/environmentReport';
import { humanName, humanValue } from '../../../extension/reportFormat';

describe('human names in the reports (Compare Runs, Show Environment)', () => {
  it('names internal summary fields and gives their values units', () => {
    assert.equal(humanName('bufferPool.hits'), 'buffer pool: buffers reused');
    assert.equal(humanName('clockCalibrationErrorNs'), 'GPU clock alignment error (worst rank)');
    assert.equal(humanValue('clockCalibrationErrorNs', 1_250_000), '1.25 ms');
    assert.equal(humanValue('bufferPool.hitRate', 0.875), '87.5 %');
    assert.equal(humanName('metrics.exposedCommNs'), 'metrics: exposed comm');
    assert.equal(humanValue('metrics.exposedCommNs', 42_000), '42 µs');
    assert.equal(humanValue('peakMemoryBytes', 3 * 1024 * 1024), '3 MiB');
    assert.equal(humanName('achievedFlopsPerRank'), 'achieved FLOP/s per rank');
    assert.equal(humanValue('achievedFlopsPerRank', 43_700_219), '43.7 MFLOP/s');
  });

  it('renders the doctor report as tables with human names, not raw JSON', () => {
    const doctor = {
      adapter: {
        vendor: 'mesa',
        architecture: 'software',
        description: 'llvmpipe',
        backend: 'vulkan',
        isFallbackAdapter: true,
        features: ['shader-f16', 'timestamp-query'],
        limits: { maxBufferSize: 4294967295, maxComputeWorkgroupSizeX: 1024 },
      },
      timestampQuery: { supported: true, works: true, resolutionNs: 1 },
    };
    const md = environmentMarkdown(['workspace trusted: yes'], { code: 0, stdout: JSON.stringify(doctor), stderr: '' });
    assert.match(md, /^# CommLens environment/);
    assert.match(md, /- workspace trusted: yes/);
    assert.match(md, /\| graphics API \| vulkan \|/);
    assert.match(md, /\| software \(fallback\) adapter \| yes \|/);
    assert.match(md, /\| timestamp queries supported \| yes \|/);
    assert.match(md, /\| resolution \| 1 ns \|/);
    assert.match(md, /\| most buffer size \| 4,294,967,295 B \|/);
    assert.match(md, /`shader-f16`, `timestamp-query`/);
    assert.doesNotMatch(md, /isFallbackAdapter|timestampQuery|"adapter"/);
    const bad = environmentMarkdown([], { code: 1, stdout: 'No WebGPU adapter found', stderr: 'boom' });
    assert.match(bad, /exit code 1/);
    assert.match(bad, /No WebGPU adapter found/);
    assert.match(bad, /boom/);
  });
});
