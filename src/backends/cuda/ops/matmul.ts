/**
 * x [N, K] . W[M, K]^T. Few rows (decode): the GEMV kernels, which read each weight once and keep activations
 * in float32. Many rows: cuBLAS, bf16 tensor cores with float32 accumulation, activations rounded to bf16 (as HF
 * runs the model) or, in precise mode, split into bf16 hi + lo parts (two GEMMs, ~float32-accurate).
 */
import type { CudaCtx, CudaTensor } from '../tensor.js';

/** Largest row count that takes the GEMV path. */
export const GEMV_MAX_ROWS = 16;

export function matmul(c: CudaCtx, x: CudaTensor, w: CudaTensor, opts: { precise?: boolean } = {}): CudaTensor {
  c.live(x, w);
  if (w.shape.length !== 2) throw new Error(`matmul: weight must be 2-D, got [${w.shape}]`);
  const [M, K] = w.shape;
  if (x.cols !== K) throw new Error(`matmul: x has ${x.cols} columns, weight [${w.shape}] expects ${K}`);
  if (x.dtype !== 'f32') throw new Error(`matmul: activations must be float32, got ${x.dtype}`);
  const N = x.rows;
  const out = c.alloc([...x.shape.slice(0, -1), M]);
  if (N === 0) return out;
  matmulInto(c, x, w, out.ptr, M, opts.precise ?? c.precise);
  return out;
}

/** Writes x . W^T into y (row stride M). */
export function matmulInto(c: CudaCtx, x: CudaTensor, w: CudaTensor, y: number, ldy: number, precise: boolean): void {
  const [M, K] = w.shape;
  const N = x.rows;
  if (N <= GEMV_MAX_ROWS) {
    const variant = N === 1 ? 'n1' : N <= 4 ? 'n4' : 'n8';
    const name = `gemv_${w.dtype === 'bf16' ? 'bf16' : 'f32'}_${variant}`;
    c.kernels.launch(name, Math.ceil(M / 8), 256, [x.ptr, x.ld, w.ptr, y, ldy, N, K, M]);
    return;
  }
  if (w.dtype === 'f32') {
    c.blas.gemmF32(x.ptr, x.ld, w.ptr, y, ldy, N, K, M);
    return;
  }
  c.withScratch((scratch) => {
    const hi = scratch(N * K * 2);
    const lo = precise ? scratch(N * K * 2) : 0;
    c.kernels.launch('to_bf16_split', [Math.ceil(K / 256), N], 256, [x.ptr, x.ld, hi, lo || null, K]);
    c.blas.gemmBf16(hi, K, w.ptr, y, ldy, N, K, M);
    if (precise) c.blas.gemmBf16(lo, K, w.ptr, y, ldy, N, K, M, true);
  });
}
