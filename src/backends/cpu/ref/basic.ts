/** Plain reference kernels: embedding, RMSNorm, matmul, elementwise. Float32 storage, float64 accumulation. */
import { CpuTensor, t } from './tensor.js';

export function embed(table: CpuTensor, ids: Int32Array): CpuTensor {
  const [vocab, h] = table.shape;
  const out = new Float32Array(ids.length * h);
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${vocab})`);
    out.set(table.data.subarray(id * h, (id + 1) * h), i * h);
  });
  return t(out, [ids.length, h]);
}

export function rmsNorm(x: CpuTensor, w: CpuTensor, eps: number): CpuTensor {
  const h = x.cols;
  const out = new Float32Array(x.data.length);
  for (let r = 0; r < x.rows; r++) {
    const o = r * h;
    let ss = 0;
    for (let j = 0; j < h; j++) ss += x.data[o + j] * x.data[o + j];
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let j = 0; j < h; j++) out[o + j] = w.data[j] * (x.data[o + j] * inv);
  }
  return t(out, x.shape);
}

/** x [N, in] . w[out, in]^T -> [N, out] */
export function matmul(x: CpuTensor, w: CpuTensor): CpuTensor {
  const [outDim, inDim] = w.shape;
  if (x.cols !== inDim) throw new Error(`matmul: x has ${x.cols} columns, weight [${w.shape}] expects ${inDim}`);
  const n = x.rows;
  const out = new Float32Array(n * outDim);
  const xd = x.data;
  const wd = w.data;
  for (let r = 0; r < n; r++) {
    const xo = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wo = o * inDim;
      let acc = 0;
      for (let j = 0; j < inDim; j++) acc += xd[xo + j] * wd[wo + j];
      out[r * outDim + o] = acc;
    }
  }
  return t(out, [...x.shape.slice(0, -1), outDim]);
}

export function add(a: CpuTensor, b: CpuTensor): CpuTensor {
  if (a.data.length !== b.data.length) throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return t(out, a.shape);
}

export function addBias(x: CpuTensor, b: CpuTensor): CpuTensor {
  const d = x.cols;
  if (b.data.length !== d) throw new Error(`addBias: bias of ${b.data.length} for rows of ${d}`);
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] + b.data[i % d];
  return t(out, x.shape);
}

export function gatherRows(x: CpuTensor, rows: Int32Array): CpuTensor {
  const d = x.cols;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    if (r < 0 || r >= x.rows) throw new RangeError(`gatherRows: row ${r} of ${x.rows}`);
    out.set(x.data.subarray(r * d, (r + 1) * d), i * d);
  });
  return t(out, [rows.length, d]);
}

export function splitCols(x: CpuTensor, widths: readonly number[]): CpuTensor[] {
  const total = widths.reduce((a, b) => a + b, 0);
  if (total !== x.cols) throw new Error(`splitCols: widths sum to ${total}, tensor has ${x.cols} columns`);
  const rows = x.rows;
  let off = 0;
  return widths.map((wd) => {
    const out = new Float32Array(rows * wd);
    for (let r = 0; r < rows; r++) out.set(x.data.subarray(r * x.cols + off, r * x.cols + off + wd), r * wd);
    off += wd;
    return t(out, [...x.shape.slice(0, -1), wd]);
  });
}

export function relu2(x: CpuTensor): CpuTensor {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = x.data[i] > 0 ? x.data[i] : 0;
    out[i] = v * v;
  }
  return t(out, x.shape);
}

export const silu = (v: number): number => v / (1 + Math.exp(-v));
export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
/** softplus with PyTorch's threshold 20 (model-spec 3.4). */
export const softplus = (v: number): number => (v > 20 ? v : Math.log1p(Math.exp(v)));
