/**
 * cuBLAS on the device stream, for matmuls with many rows (prefill, large batches). Row-major y[N, M] = x[N, K] .
 * W[M, K]^T is the column-major product C[M, N] = op(A)[M, K] . B[K, N] with A = W (lda K, transposed) and B = x.
 * A fixed workspace keeps cuBLAS from allocating during a stream capture. Calls are skipped in dry mode.
 */
import type { CudaDevice } from './device.js';
import { CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH, CUBLAS_GEMM_DEFAULT, CUBLAS_OP_N, CUBLAS_OP_T, CUDA_R_16BF, CUDA_R_32F, loadCublas, type Cublas } from './ffi/cublas.js';
import type { Handle } from './ffi/driver.js';
import { getKoffi } from './ffi/load.js';

export class CublasError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'CublasError';
  }
}

const WORKSPACE = 64 << 20;

export class Blas {
  private readonly api: Cublas;
  private readonly handle: Handle;
  private readonly one: bigint;
  private readonly zero: bigint;
  calls = 0;

  constructor(private readonly dev: CudaDevice) {
    this.api = loadCublas();
    const h: [Handle | null] = [null];
    this.check(this.api.cublasCreate(h), 'cublasCreate');
    this.handle = h[0]!;
    this.check(this.api.cublasSetStream(this.handle, dev.stream), 'cublasSetStream');
    this.check(this.api.cublasSetWorkspace(this.handle, dev.rawAlloc(WORKSPACE), WORKSPACE), 'cublasSetWorkspace');
    this.check(this.api.cublasSetMathMode(this.handle, CUBLAS_DEFAULT_MATH), 'cublasSetMathMode'); // no TF32
    const k = getKoffi();
    this.one = k.alloc('float', 1) as bigint;
    this.zero = k.alloc('float', 1) as bigint;
    new DataView(k.view(this.one, 4)).setFloat32(0, 1, true);
    new DataView(k.view(this.zero, 4)).setFloat32(0, 0, true);
  }

  private check(status: number, what: string): void {
    if (status === 0) return;
    let text = '';
    try {
      text = this.api.cublasGetStatusString(status);
    } catch {
      // older cuBLAS without the string table
    }
    throw new CublasError(status, `${what} failed: cuBLAS status ${status}${text ? ` (${text})` : ''}`);
  }

  /** y[N, M] (row stride ldy) (+)= x[N, K] (bf16, row stride ldx) . W[M, K]^T (bf16); f32 accumulation. */
  gemmBf16(x: number, ldx: number, w: number, y: number, ldy: number, N: number, K: number, M: number, accumulate = false): void {
    if (this.dev.mode === 'dry') return;
    this.calls++;
    this.check(
      this.api.cublasGemmEx(this.handle, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, this.one, w, CUDA_R_16BF, K, x, CUDA_R_16BF, ldx,
        accumulate ? this.one : this.zero, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      `cublasGemmEx (bf16 ${N}x${K} . ${M}x${K}^T)`,
    );
  }

  /** y[N, M] = x[N, K] (f32, row stride ldx) . W[M, K]^T (f32). */
  gemmF32(x: number, ldx: number, w: number, y: number, ldy: number, N: number, K: number, M: number): void {
    if (this.dev.mode === 'dry') return;
    this.calls++;
    this.check(
      this.api.cublasSgemm(this.handle, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, this.one, w, K, x, ldx, this.zero, y, ldy),
      `cublasSgemm (${N}x${K} . ${M}x${K}^T)`,
    );
  }
}
