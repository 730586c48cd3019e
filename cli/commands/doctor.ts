import { requestAdapter, requestDevice, summarizeAdapter, type AdapterSummary } from '../../runtime/gpu/dawn';
import { quietly } from '../../runtime/gpu/quietWait';
import { EXIT } from '../protocol';
import { Output, type Io } from '../output';
import { parseArgs, flag, UsageError, type OptionSpecs } from '../args';
import type { Command } from '../command';

const DOCTOR_USAGE = `usage: commlens doctor [--json] [--brief]
  Prints the WebGPU adapter dawn-node finds, whether GPU timestamps work, and (unless
  --brief) its features and limits. --json: the same as JSON. Exit 3 when no adapter.`;

const OPTIONS: OptionSpecs = { json: { kind: 'flag' }, brief: { kind: 'flag' } };

export interface DoctorReport {
  adapter: AdapterSummary;
  timestampQuery: { supported: boolean; works: boolean; resolutionNs?: number; error?: string };
}

export const NO_ADAPTER_HELP = [
  'No WebGPU adapter found: dawn-node needs a Vulkan driver.',
  'On a machine with a GPU, install its vendor driver with Vulkan support.',
  'On a machine without a GPU (Debian bookworm), install Mesa lavapipe from bookworm-backports:',
  '  bash scripts/setup.sh          (does it for you), or by hand:',
  '  add "bookworm-backports" to your apt sources, then',
  '  apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1',
  "(bookworm's own Mesa 22 is rejected by Dawn.)",
].join('\n');

/** Runs a tiny timed compute pass to see whether timestamp queries really work. */
async function probeTimestamps(device: GPUDevice): Promise<DoctorReport['timestampQuery']> {
  if (!device.features.has('timestamp-query')) return { supported: false, works: false };
  try {
    const qs = device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const module = device.createShaderModule({
      code: '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&a)) { a[g.x] = a[g.x] * 2.0 + 1.0; } }',
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const buf = device.createBuffer({ size: 4 * 4096, usage: GPUBufferUsage.STORAGE });
    const bg = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: buf } }],
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass({
      timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(64);
    pass.end();
    enc.resolveQuerySet(qs, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    await quietly(read.mapAsync(GPUMapMode.READ));
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    const dt = Number(t[1] - t[0]);
    const works = t[0] > 0n && dt >= 0;
    // Quantized timestamps are multiples of 65,536 ns; unquantized ones almost never are.
    const quantized = t[0] % 65536n === 0n && t[1] % 65536n === 0n;
    return { supported: true, works, resolutionNs: quantized ? 65536 : 1 };
  } catch (e) {
    return { supported: true, works: false, error: (e as Error).message };
  }
}

export async function doctor(): Promise<DoctorReport | undefined> {
  const adapter = await requestAdapter();
  if (!adapter) return undefined;
  const summary = summarizeAdapter(adapter);
  const device = await requestDevice(adapter);
  const timestampQuery = await probeTimestamps(device);
  device.destroy();
  return { adapter: summary, timestampQuery };
}

export function formatDoctor(r: DoctorReport, brief: boolean): string {
  const a = r.adapter;
  const lines = [
    `adapter      ${a.description || a.device || a.vendor} (vendor ${a.vendor}, architecture ${a.architecture}, backend ${a.backend}${a.isFallbackAdapter ? ', software fallback' : ''})`,
    `timestamps   ${r.timestampQuery.works ? `working, resolution ${r.timestampQuery.resolutionNs === 1 ? '1 ns (quantization off)' : r.timestampQuery.resolutionNs + ' ns'}` : r.timestampQuery.supported ? `supported but failing: ${r.timestampQuery.error ?? 'no data'}` : 'not supported (GPU spans fall back to host timing)'}`,
  ];
  if (brief) return lines.join('\n');
  lines.push(`features     ${a.features.join(', ')}`);
  for (const [k, v] of Object.entries(a.limits))
    lines.push(`limit        ${k.padEnd(36)} ${v.toLocaleString('en-US')}`);
  return lines.join('\n');
}

export async function doctorCommand(args: string[], io?: Io): Promise<number> {
  const out = new Output('doctor', { io });
  let json: boolean, brief: boolean;
  try {
    const p = parseArgs(args, OPTIONS);
    if (p.positional.length) throw new UsageError(`unexpected argument '${p.positional[0]}'`);
    json = flag(p, 'json');
    brief = flag(p, 'brief');
  } catch (e) {
    if (e instanceof UsageError)
      return out.fail(e.showUsage ? `${e.message}\n${DOCTOR_USAGE}` : e.message, EXIT.badInput);
    throw e;
  }
  let report: DoctorReport | undefined;
  try {
    report = await doctor();
  } catch (e) {
    return out.fail(`${(e as Error).message}\n\n${NO_ADAPTER_HELP}`, EXIT.noAdapter);
  }
  if (!report) return out.fail(NO_ADAPTER_HELP, EXIT.noAdapter);
  if (json) out.json(report);
  else out.write(formatDoctor(report, brief));
  return EXIT.ok;
}

export const doctorCmd: Command = {
  name: 'doctor',
  synopsis: 'doctor [--json]',
  summary: 'print the WebGPU adapter, its features and limits',
  usage: DOCTOR_USAGE,
  run: doctorCommand,
};
