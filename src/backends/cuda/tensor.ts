/**
 * The CUDA backend's tensor and KV cache, and the context the op modules work in. A tensor is a device address,
 * a shape, a dtype and a row stride (`ld`, in elements): splitCols returns column views of its input without a
 * copy, and the kernels that read them take the stride. Temporaries live in the step arena (`gen` = the arena
 * generation they were made in); weights and states are pool allocations (`gen` = -1).
 */
import type { KvCache, Tensor } from '../../ops/ops.js';
import type { Blas } from './blas.js';
import type { CudaDevice } from './device.js';
import type { Kernels } from './launch.js';

export type DType = 'f32' | 'bf16' | 'i32';
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, i32: 4 };

export class CudaTensor implements Tensor {
  released = false;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly ptr: number,
    /** Row stride in elements (== cols when contiguous). */
    readonly ld: number,
    /** Arena generation for temporaries, -1 for pool allocations. */
    readonly gen: number,
    /** Pool allocation this tensor owns (null for views and temporaries). */
    readonly owned: { size: number } | null,
  ) {}
  get cols(): number {
    return this.shape.length ? this.shape[this.shape.length - 1] : 1;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get rows(): number {
    return this.cols === 0 ? 0 : this.numel / this.cols;
  }
  get contiguous(): boolean {
    return this.ld === this.cols;
  }
}

/** K and V rows [capacity, kvHeads * headDim] (float32) of one attention layer of one sequence. */
export class CudaKvCache implements KvCache {
  length = 0;
  capacity = 0;
  k = 0;
  v = 0;
  allocSize = 0;
  released = false;
  constructor(readonly width: number) {}
}

/** What the op modules need from the backend. */
export interface CudaCtx {
  readonly dev: CudaDevice;
  readonly kernels: Kernels;
  readonly blas: Blas;
  /** Prefill GEMMs on float32-accurate activations (two bf16 passes) instead of bf16-rounded ones. */
  readonly precise: boolean;
  /**
   * While set, an embed of exactly `n` ids reads them from this device buffer (i32 [n]) instead of the host array:
   * pipelined graph decoding feeds each step the tokens the previous step sampled on the device.
   */
  readonly tokenFeed: { ptr: number; n: number } | null;
  /**
   * Rows every KV cache must have room for beyond the step's own: a graph of several decode steps grows its caches
   * at its first step only (a growth copy inside the graph would copy rows that its earlier steps have not written).
   */
  readonly kvAhead: number;
  /** A new arena tensor (contiguous). */
  alloc(shape: readonly number[], dtype?: DType): CudaTensor;
  /** Runs `fn` with arena scratch released afterwards (allocate outputs before calling). */
  withScratch<R>(fn: (scratch: (bytes: number) => number) => R): R;
  /** `t` itself if contiguous, else a contiguous copy. */
  contig(t: CudaTensor): CudaTensor;
  /** A float32 version of a small parameter vector (cached for bf16 ones). */
  f32(t: CudaTensor): CudaTensor;
  /** Throws if a tensor was released or belongs to an ended step. */
  live(...ts: (CudaTensor | null | undefined)[]): void;
  /** Blocks for a grid-stride elementwise kernel over n items. */
  blocks(n: number, perBlock?: number): number;
}
