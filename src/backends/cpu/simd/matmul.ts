/**
 * WASM SIMD matmul: x [N, in] times w [out, in] transposed. Weights are read in place from the heap (copied there
 * by fromFloat32 / fromBytes, BF16 checkpoint weights kept as BF16); x is copied into scratch in the kernel's
 * layout (packRow), the kernels write y into scratch, and y is copied out. The copies are O(N (in + out)) against O(N in out) of compute.
 * Float32 accumulation in four lanes: differs from the float64 reference by summation rounding only.
 */
import { CpuTensor } from '../ref/tensor.js';
import type { WasmHeap, WeightRef } from './heap.js';

export const up4 = (v: number): number => (v + 3) & ~3;

/** w [out, in] in kernel layout: registered at load time, else a zero-padded float32 copy made on first use. */
export function weightRef(heap: WasmHeap, w: Float32Array, outDim: number, inDim: number): WeightRef {
  let ref = heap.weights.get(w);
  if (ref === undefined) {
    const kp = up4(inDim);
    const mp = up4(outDim);
    const p = heap.alloc(mp * kp * 4);
    const f = heap.f32;
    const base = p >> 2;
    f.fill(0, base, base + mp * kp);
    for (let o = 0; o < outDim; o++) f.set(w.subarray(o * inDim, (o + 1) * inDim), base + o * kp);
    ref = { ptr: p, bf16: false };
    heap.weights.set(w, ref);
  }
  return ref;
}

/**
 * Writes row `src` of x (row length inDim, at float index `from` of array `x`) into the kernel's x layout at float
 * index `dst` of the heap: zero-padded to up4(inDim), or for BF16 weights in blocks of 8 as [x0 x2 x4 x6 x1 x3 x5 x7]
 * (see matmulBf16Kernel).
 */
export function packRow(f: Float32Array, dst: number, x: Float32Array, from: number, inDim: number, bf16: boolean): void {
  if (bf16) {
    for (let i = from, o = dst, end = from + inDim; i < end; i += 8, o += 8) {
      f[o] = x[i]; f[o + 1] = x[i + 2]; f[o + 2] = x[i + 4]; f[o + 3] = x[i + 6];
      f[o + 4] = x[i + 1]; f[o + 5] = x[i + 3]; f[o + 6] = x[i + 5]; f[o + 7] = x[i + 7];
    }
    return;
  }
  f.set(x.subarray(from, from + inDim), dst);
  const kp = up4(inDim);
  if (kp !== inDim) f.fill(0, dst + inDim, dst + kp);
}

/**
 * Matmuls of at least this many multiply-adds are split over the helper threads: waking a helper costs tens of
 * microseconds, so decode-sized products (under ~0.5 M) stay on the calling thread.
 */
export const POOL_MIN_MACS = 1 << 21;

/** Runs the kernel on packed x at byte `xp` (n rows) into y at byte `yp` (rows of up4(outDim) floats). */
export function runKernel(heap: WasmHeap, xp: number, n: number, inDim: number, w: WeightRef, yp: number, outDim: number): void {
  const kp = up4(inDim);
  const mp = up4(outDim);
  const own = w.bf16 ? heap.k.mmb4x1 : heap.k.mm4x1;
  if (n * kp * mp >= POOL_MIN_MACS) {
    const pool = heap.pool();
    if (pool) {
      pool.matmul(w.bf16 ? 1 : 0, own, xp, w.ptr, yp, n, kp * 4, mp * 4, mp, kp * (w.bf16 ? 2 : 4));
      return;
    }
  }
  own(xp, w.ptr, yp, n, kp * 4, mp * 4, mp);
}

/** y [n, outDim] = x [n, inDim] . W^T for a weight in kernel layout. */
export function matmulRaw(heap: WasmHeap, x: Float32Array, n: number, inDim: number, w: WeightRef, outDim: number): Float32Array {
  const kp = up4(inDim); // BF16 weights have inDim % 8 === 0
  const mp = up4(outDim);
  const xp = heap.scratch((n * kp + n * mp) * 4);
  const yp = xp + n * kp * 4;
  const f = heap.f32;
  const xb = xp >> 2;
  if (!w.bf16 && kp === inDim) f.set(x.subarray(0, n * inDim), xb);
  else for (let r = 0; r < n; r++) packRow(f, xb + r * kp, x, r * inDim, inDim, w.bf16);
  runKernel(heap, xp, n, inDim, w, yp, outDim);
  const yb = yp >> 2;
  const out = heap.out(n * outDim);
  if (mp === outDim) out.set(f.subarray(yb, yb + n * outDim));
  else for (let r = 0; r < n; r++) out.set(f.subarray(yb + r * mp, yb + r * mp + outDim), r * outDim);
  return out;
}

/** x [N, in] . w[out, in]^T -> [N, out] */
export function matmulSimd(heap: WasmHeap, x: CpuTensor, w: CpuTensor): CpuTensor {
  const [outDim, inDim] = w.shape;
  if (x.cols !== inDim) throw new Error(`matmul: x has ${x.cols} columns, weight [${w.shape}] expects ${inDim}`);
  const n = x.rows;
  const shape = [...x.shape.slice(0, -1), outDim];
  if (n === 0 || outDim === 0 || inDim === 0) return new CpuTensor(heap.out(n * outDim).fill(0), shape);
  return new CpuTensor(matmulRaw(heap, x.data, n, inDim, weightRef(heap, w.data, outDim, inDim), outDim), shape);
}
