/**
 * Element-wise ops with NumPy-style broadcasting (right-aligned, up to 4 dims), their
 * gradients (a broadcast input's gradient is the output gradient summed over the
 * broadcast dims), and the activations ReLU and GELU.
 */
import type { GpuContext } from '../context';
import { UniformWriter, grid1d } from '../context';
import { Tensor, shapeStr } from '../tensor';
import type { GradTarget } from '../tape';
import { Graph, INDEX_1D, sameShape, spanName } from './graph';

export type BinaryOp = 'add' | 'mul';

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`cannot broadcast ${shapeStr(a)} with ${shapeStr(b)}`);
    out.push(Math.max(da, db));
  }
  return out;
}

function pad4(shape: readonly number[]): number[] {
  if (shape.length > 4) throw new Error(`element-wise ops support up to 4 dims, got ${shapeStr(shape)}`);
  return [...Array(4 - shape.length).fill(1), ...shape];
}

/** Contiguous strides of `shape` seen from the 4-D `out` shape; 0 on broadcast dims. */
function broadcastStrides(shape: readonly number[], out4: number[]): number[] {
  const s4 = pad4(shape);
  const strides = [0, 0, 0, 0];
  let acc = 1;
  for (let d = 3; d >= 0; d--) {
    strides[d] = s4[d] === 1 && out4[d] !== 1 ? 0 : acc;
    acc *= s4[d];
  }
  return strides;
}

const BINARY_WGSL = (op: BinaryOp) => `struct U { n: u32, d1: u32, d2: u32, d3: u32, sa: vec4u, sb: vec4u }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
${INDEX_1D}
  if (i >= u.n) { return; }
  let i3 = i % u.d3; var t = i / u.d3;
  let i2 = t % u.d2; t = t / u.d2;
  let i1 = t % u.d1; let i0 = t / u.d1;
  let c = vec4u(i0, i1, i2, i3);
  let a = A[dot(c, u.sa)];
  let b = B[dot(c, u.sb)];
  Y[i] = ${op === 'add' ? 'a + b' : 'a * b'};
}`;

export function encodeBinary(ctx: GpuContext, op: BinaryOp, a: Tensor, b: Tensor, y: Tensor, name: string): void {
  const out4 = pad4(y.shape);
  const uniform = new UniformWriter()
    .u(y.size, out4[1], out4[2], out4[3], ...broadcastStrides(a.shape, out4), ...broadcastStrides(b.shape, out4))
    .build();
  ctx.dispatch({
    name,
    pipeline: ctx.pipeline(`binary:${op}`, BINARY_WGSL(op)),
    buffers: [a.binding(), b.binding(), y.binding()],
    uniform,
    workgroups: grid1d(Math.ceil(y.size / 256)),
    flops: y.size,
    bytes: (a.size + b.size + y.size) * 4,
  });
}

const SUM_TO_SHAPE_WGSL = (acc: boolean) => `struct U { n: u32, r: u32, p0: u32, p1: u32, ishape: vec4u, oshape: vec4u }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${INDEX_1D}
  if (i >= u.n) { return; }
  var oc: vec4u;
  var t = i;
  for (var d = 3; d >= 0; d--) { oc[d] = t % u.oshape[d]; t = t / u.oshape[d]; }
  let ish = u.ishape;
  let strides = vec4u(ish.y * ish.z * ish.w, ish.z * ish.w, ish.w, 1u);
  var s = 0.0;
  for (var r = 0u; r < u.r; r++) {
    var c = oc;
    var rr = r;
    for (var d = 3; d >= 0; d--) {
      if (u.oshape[d] == 1u) { c[d] = rr % ish[d]; rr = rr / ish[d]; }
    }
    s += X[dot(c, strides)];
  }
  ${acc ? 'Y[i] = Y[i] + s;' : 'Y[i] = s;'}
}`;

/** target (=|+=) x summed down to target's shape (x's shape broadcast from it). */
export function encodeSumToShape(ctx: GpuContext, x: Tensor, target: GradTarget, name: string): void {
  const o4 = pad4(target.tensor.shape);
  const i4 = pad4(x.shape);
  let r = 1;
  for (let d = 0; d < 4; d++) if (o4[d] === 1) r *= i4[d];
  ctx.dispatch({
    name,
    pipeline: ctx.pipeline(`sumToShape:${target.accumulate}`, SUM_TO_SHAPE_WGSL(target.accumulate)),
    buffers: [x.binding(), target.tensor.binding()],
    uniform: new UniformWriter().u(target.tensor.size, r, 0, 0, ...i4, ...o4).build(),
    workgroups: grid1d(Math.ceil(target.tensor.size / 256)),
    flops: x.size,
    bytes: (x.size + target.tensor.size) * 4,
  });
}

function binary(g: Graph, op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const { ctx } = g;
  const y = ctx.tensor(broadcastShape(a.shape, b.shape));
  const dims = sameShape(a, b) ? shapeStr(a.shape) : `${shapeStr(a.shape)}.${shapeStr(b.shape)}`;
  encodeBinary(ctx, op, a, b, y, spanName(ctx, op, dims));
  g.tape.record({
    name: op,
    inputs: [a, b],
    output: y,
    backward(dy, sink) {
      for (const [self, other] of [
        [a, b],
        [b, a],
      ] as const) {
        // d(a+b)/da is the identity: pass dy on instead of copying it (not for add(x, x),
        // whose second contribution would accumulate into the buffer it reads).
        if (op === 'add' && a !== b && sameShape(self, dy) && sink.alias(self, dy)) continue;
        const t = sink.target(self);
        if (!t) continue;
        if (op === 'add') {
          encodeSumToShape(ctx, dy, t, spanName(ctx, `${op}.d${self === a ? 'a' : 'b'}`, shapeStr(self.shape)));
        } else {
          const tmp = ctx.tensor(dy.shape);
          encodeBinary(ctx, 'mul', dy, other, tmp, spanName(ctx, 'mul.grad', shapeStr(dy.shape)));
          encodeSumToShape(ctx, tmp, t, spanName(ctx, `mul.d${self === a ? 'a' : 'b'}`, shapeStr(self.shape)));
          ctx.release(tmp);
        }
      }
    },
  });
  return y;
}

export const add = (g: Graph, a: Tensor, b: Tensor): Tensor => binary(g, 'add', a, b);
export const mul = (g: Graph, a: Tensor, b: Tensor): Tensor => binary(g, 'mul', a, b);

export type Activation = 'relu' | 'gelu';

// GELU, tanh form; the tanh argument is clamped because some WGSL tanh lowerings
// overflow to NaN for large inputs.
const ACT_WGSL: Record<Activation, { f: string; df: string }> = {
  relu: { f: 'max(x, 0.0)', df: 'select(0.0, 1.0, x > 0.0)' },
  gelu: {
    f: '0.5 * x * (1.0 + tanh(clamp(0.7978845608 * (x + 0.044715 * x * x * x), -15.0, 15.0)))',
    df: 'gelu_grad(x)',
  },
};

const GELU_GRAD = `fn gelu_grad(x: f32) -> f32 {
  let k = 0.7978845608;
  let th = tanh(clamp(k * (x + 0.044715 * x * x * x), -15.0, 15.0));
  return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3.0 * 0.044715 * x * x);
}`;

const ACT_FWD_WGSL = (act: Activation) => `struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${INDEX_1D}
  if (i >= u.n) { return; }
  let x = X[i];
  Y[i] = ${ACT_WGSL[act].f};
}`;

const ACT_BWD_WGSL = (act: Activation, acc: boolean) => `struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> DX: array<f32>;
${act === 'gelu' ? GELU_GRAD : ''}
${INDEX_1D}
  if (i >= u.n) { return; }
  let x = X[i];
  let v = DY[i] * ${ACT_WGSL[act].df};
  ${acc ? 'DX[i] = DX[i] + v;' : 'DX[i] = v;'}
}`;

/** Encodes y = act(x) (same shape). */
export function encodeActivation(ctx: GpuContext, act: Activation, x: Tensor, y: Tensor, name: string): void {
  ctx.dispatch({
    name,
    pipeline: ctx.pipeline(`act:${act}`, ACT_FWD_WGSL(act)),
    buffers: [x.binding(), y.binding()],
    uniform: new UniformWriter().u(x.size).build(),
    workgroups: grid1d(Math.ceil(x.size / 256)),
    flops: x.size * (act === 'relu' ? 1 : 10),
    bytes: x.size * 8,
  });
}

/** Encodes target (=|+=) dy · act'(x). */
export function encodeActivationGrad(
  ctx: GpuContext,
  act: Activation,
  x: Tensor,
  dy: Tensor,
  target: GradTarget,
  name: string,
): void {
  ctx.dispatch({
    name,
    pipeline: ctx.pipeline(`act:${act}:bwd:${target.accumulate}`, ACT_BWD_WGSL(act, target.accumulate)),
    buffers: [x.binding(), dy.binding(), target.tensor.binding()],
    uniform: new UniformWriter().u(x.size).build(),
    workgroups: grid1d(Math.ceil(x.size / 256)),
    flops: x.size * (act === 'relu' ? 1 : 10) * 2,
    bytes: x.size * (target.accumulate ? 16 : 12),
  });
}

export function activation(g: Graph, act: Activation, x: Tensor): Tensor {
  const { ctx } = g;
  const y = ctx.tensor(x.shape);
  encodeActivation(ctx, act, x, y, spanName(ctx, act, shapeStr(x.shape)));
  g.tape.record({
    name: act,
    inputs: [x],
    output: y,
    backward(dy, sink) {
      const t = sink.target(x);
      if (!t) return;
      encodeActivationGrad(ctx, act, x, dy, t, spanName(ctx, act, shapeStr(x.shape)));
    },
  });
  return y;
}

export const relu = (g: Graph, x: Tensor): Tensor => activation(g, 'relu', x);
export const gelu = (g: Graph, x: Tensor): Tensor => activation(g, 'gelu', x);
