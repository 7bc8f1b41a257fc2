/**
 * The reference's elementwise and copy ops with their outputs taken from the heap's step arena (heap.out);
 * add, relu2 and rmsNorm on wasm kernels when their output is in the arena (float32 sums: rmsNorm differs from
 * the float64 reference by rounding only).
 */
import { CpuTensor } from '../ref/tensor.js';
import type { WasmHeap } from './heap.js';

export function embed(heap: WasmHeap, table: CpuTensor, ids: Int32Array): CpuTensor {
  const [vocab, h] = table.shape;
  const out = heap.out(ids.length * h);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${vocab})`);
    out.set(table.data.subarray(id * h, (id + 1) * h), i * h);
  }
  return new CpuTensor(out, [ids.length, h]);
}

/**
 * Heap byte addresses of the given arrays for a wasm kernel: their own when they live in the heap (arena outputs,
 * weights), else a copy in scratch. Call after allocating the output (allocation may move scratch).
 */
function addrs(heap: WasmHeap, arrays: Float32Array[]): number[] {
  const ptrs = arrays.map((a) => heap.addr(a));
  let need = 0;
  arrays.forEach((a, i) => {
    if (ptrs[i] < 0) need += (a.length + 3) & ~3;
  });
  if (need === 0) return ptrs;
  let at = heap.scratch(need * 4);
  const f = heap.f32;
  arrays.forEach((a, i) => {
    if (ptrs[i] >= 0) return;
    f.set(a, at >> 2);
    ptrs[i] = at;
    at += ((a.length + 3) & ~3) * 4;
  });
  return ptrs;
}

export function rmsNorm(heap: WasmHeap, x: CpuTensor, w: CpuTensor, eps: number): CpuTensor {
  const h = x.cols;
  const xd = x.data;
  const wd = w.data;
  const out = heap.out(xd.length);
  const po = heap.addr(out);
  if (po >= 0 && h % 4 === 0 && xd.length > 0) {
    const [px, pw] = addrs(heap, [xd, wd]);
    heap.k.rmsNorm(px, pw, po, xd.length / h, h * 4, eps, 1 / h);
    return new CpuTensor(out, x.shape);
  }
  for (let o = 0; o < xd.length; o += h) {
    let ss = 0;
    for (let j = 0; j < h; j++) ss += xd[o + j] * xd[o + j];
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let j = 0; j < h; j++) out[o + j] = wd[j] * (xd[o + j] * inv);
  }
  return new CpuTensor(out, x.shape);
}

export function add(heap: WasmHeap, a: CpuTensor, b: CpuTensor): CpuTensor {
  if (a.data.length !== b.data.length) throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
  const ad = a.data;
  const bd = b.data;
  const out = heap.out(ad.length);
  const po = heap.addr(out);
  let i = 0;
  if (po >= 0) {
    const [pa, pb] = addrs(heap, [ad, bd]);
    i = ad.length & ~3;
    heap.k.vadd(pa, pb, po, i * 4);
  }
  for (; i < out.length; i++) out[i] = ad[i] + bd[i];
  return new CpuTensor(out, a.shape);
}

export function addBias(heap: WasmHeap, x: CpuTensor, b: CpuTensor): CpuTensor {
  const d = x.cols;
  if (b.data.length !== d) throw new Error(`addBias: bias of ${b.data.length} for rows of ${d}`);
  const xd = x.data;
  const bd = b.data;
  const out = heap.out(xd.length);
  for (let o = 0; o < xd.length; o += d) for (let j = 0; j < d; j++) out[o + j] = xd[o + j] + bd[j];
  return new CpuTensor(out, x.shape);
}

export function gatherRows(heap: WasmHeap, x: CpuTensor, rows: Int32Array): CpuTensor {
  const d = x.cols;
  const out = heap.out(rows.length * d);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r < 0 || r >= x.rows) throw new RangeError(`gatherRows: row ${r} of ${x.rows}`);
    out.set(x.data.subarray(r * d, (r + 1) * d), i * d);
  }
  return new CpuTensor(out, [rows.length, d]);
}

export function splitCols(heap: WasmHeap, x: CpuTensor, widths: readonly number[]): CpuTensor[] {
  const total = widths.reduce((a, b) => a + b, 0);
  if (total !== x.cols) throw new Error(`splitCols: widths sum to ${total}, tensor has ${x.cols} columns`);
  const rows = x.rows;
  let off = 0;
  return widths.map((wd) => {
    const out = heap.out(rows * wd);
    for (let r = 0; r < rows; r++) out.set(x.data.subarray(r * x.cols + off, r * x.cols + off + wd), r * wd);
    off += wd;
    return new CpuTensor(out, [...x.shape.slice(0, -1), wd]);
  });
}

export function relu2(heap: WasmHeap, x: CpuTensor): CpuTensor {
  const xd = x.data;
  const out = heap.out(xd.length);
  const po = heap.addr(out);
  let i = 0;
  if (po >= 0) {
    const [px] = addrs(heap, [xd]);
    i = xd.length & ~3;
    heap.k.vrelu2(px, 0, po, i * 4);
  }
  for (; i < out.length; i++) {
    const v = xd[i] > 0 ? xd[i] : 0;
    out[i] = v * v;
  }
  return new CpuTensor(out, x.shape);
}
