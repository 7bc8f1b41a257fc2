/**
 * WASM SIMD matmul: x [N, in] times w [out, in] transposed. Weights are read in place from the heap (copied there
 * by fromFloat32 / fromBytes, BF16 checkpoint weights kept as BF16); x is copied into scratch with rows padded to a multiple of 4 floats, the kernels write y into
 * scratch, and y is copied out. The copies are O(N (in + out)) against O(N in out) of compute.
 * Float32 accumulation in four lanes: differs from the float64 reference by summation rounding only.
 */
import { CpuTensor } from '../ref/tensor.js';
import type { WasmHeap, WeightRef } from './heap.js';

const up4 = (v: number) => (v + 3) & ~3;

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

/** y [n, outDim] = x [n, inDim] . W^T for a weight in kernel layout. */
export function matmulRaw(heap: WasmHeap, x: Float32Array, n: number, inDim: number, w: WeightRef, outDim: number): Float32Array {
  const kp = up4(inDim); // BF16 weights have inDim % 8 === 0
  const mp = up4(outDim);
  const xp = heap.scratch((n * kp + n * mp) * 4);
  const yp = xp + n * kp * 4;
  const f = heap.f32;
  const xb = xp >> 2;
  if (w.bf16) {
    // blocks of 8 as [x0 x2 x4 x6 x1 x3 x5 x7] (see matmulBf16Kernel)
    for (let i = 0, o = xb; i < n * inDim; i += 8, o += 8) {
      f[o] = x[i]; f[o + 1] = x[i + 2]; f[o + 2] = x[i + 4]; f[o + 3] = x[i + 6];
      f[o + 4] = x[i + 1]; f[o + 5] = x[i + 3]; f[o + 6] = x[i + 5]; f[o + 7] = x[i + 7];
    }
  } else if (kp === inDim) f.set(x.subarray(0, n * inDim), xb);
  else {
    for (let r = 0; r < n; r++) {
      f.set(x.subarray(r * inDim, (r + 1) * inDim), xb + r * kp);
      f.fill(0, xb + r * kp + inDim, xb + (r + 1) * kp);
    }
  }
  const kb = kp * 4;
  const mb = mp * 4;
  const even = n & ~1;
  const k = heap.k;
  if (even > 0) (w.bf16 ? k.mmb4x2 : k.mm4x2)(xp, w.ptr, yp, even, kb, mb);
  if (n & 1) (w.bf16 ? k.mmb4x1 : k.mm4x1)(xp + even * kb, w.ptr, yp + even * mb, 1, kb, mb);
  const yb = yp >> 2;
  if (mp === outDim) return f.slice(yb, yb + n * outDim);
  const out = new Float32Array(n * outDim);
  for (let r = 0; r < n; r++) out.set(f.subarray(yb + r * mp, yb + r * mp + outDim), r * outDim);
  return out;
}

/** x [N, in] . w[out, in]^T -> [N, out] */
export function matmulSimd(heap: WasmHeap, x: CpuTensor, w: CpuTensor): CpuTensor {
  const [outDim, inDim] = w.shape;
  if (x.cols !== inDim) throw new Error(`matmul: x has ${x.cols} columns, weight [${w.shape}] expects ${inDim}`);
  const n = x.rows;
  const shape = [...x.shape.slice(0, -1), outDim];
  if (n === 0 || outDim === 0) return new CpuTensor(new Float32Array(n * outDim), shape);
  if (inDim === 0) return new CpuTensor(new Float32Array(n * outDim), shape);
  return new CpuTensor(matmulRaw(heap, x.data, n, inDim, weightRef(heap, w.data, outDim, inDim), outDim), shape);
}
