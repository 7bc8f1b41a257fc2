/** libcublas symbol declarations (GEMMs for prefill-size matmuls) and error text. Device pointers are numbers. */
import { bind, openLibrary, type Library } from './load.js';

type Fn = (...a: unknown[]) => number;

export interface Cublas {
  lib: Library;
  cublasCreate: Fn; cublasSetStream: Fn; cublasSetWorkspace: Fn; cublasSetMathMode: Fn; cublasGemmEx: Fn; cublasSgemm: Fn;
  cublasGetStatusString: (code: number) => string;
}

export const CUBLAS_OP_N = 0;
export const CUBLAS_OP_T = 1;
export const CUDA_R_32F = 0;
export const CUDA_R_16BF = 14;
export const CUBLAS_COMPUTE_32F = 68;
export const CUBLAS_GEMM_DEFAULT = -1;
export const CUBLAS_DEFAULT_MATH = 0;

let cublas: Cublas | undefined;

export function loadCublas(): Cublas {
  if (cublas) return cublas;
  const lib = openLibrary('cuBLAS (libcublas)', ['libcublas.so.13', 'libcublas.so.12', 'libcublas.so']);
  const f = (names: string[], args: string) => bind(lib, 'int', names, args);
  cublas = {
    lib,
    cublasCreate: f(['cublasCreate_v2'], '_Out_ void **handle'),
    cublasSetStream: f(['cublasSetStream_v2'], 'void *handle, void *stream'),
    cublasSetWorkspace: f(['cublasSetWorkspace_v2'], 'void *handle, uint64_t ws, size_t bytes'),
    cublasSetMathMode: f(['cublasSetMathMode'], 'void *handle, int mode'),
    cublasGemmEx: f(['cublasGemmEx'],
      'void *handle, int transa, int transb, int m, int n, int k, void *alpha, uint64_t A, int Atype, int lda, uint64_t B, int Btype, int ldb, void *beta, uint64_t C, int Ctype, int ldc, int computeType, int algo'),
    cublasSgemm: f(['cublasSgemm_v2'],
      'void *handle, int transa, int transb, int m, int n, int k, void *alpha, uint64_t A, int lda, uint64_t B, int ldb, void *beta, uint64_t C, int ldc'),
    cublasGetStatusString: lib.func('const char *cublasGetStatusString(int status)') as (code: number) => string,
  };
  return cublas;
}
