/**
 * The WASM SIMD CPU backend: the reference backend with its hot ops replaced by f32x4 kernels running in one
 * shared wasm memory. Matmul weights are copied into that memory once, when the loader creates them
 * (fromFloat32 / fromBytes); tensors keep Float32Array views of it, so the reference ops read them unchanged.
 * During forward passes op outputs come from a step arena in the same memory (see WasmHeap.out).
 * Every op is checked against the reference by test/ops/parity.test.ts.
 */
import type { AttnDims, KvCache, Routing, Segment, SsmDims, Tensor } from '../../../ops/ops.js';
import { toFloat32 } from '../../../loaders/dtype.js';
import { CpuRefBackend } from '../ref/backend.js';
import { CpuKvCache, CpuTensor } from '../ref/tensor.js';
import { attentionSimd } from './attention.js';
import * as basic from './basic.js';
import { WasmHeap } from './heap.js';
import { matmulSimd } from './matmul.js';
import { gatedRmsNormFast, mambaConvFast, ssmScanSimd } from './mamba.js';
import { moeExpertsSimd } from './moe.js';
import { SimdKvCache } from './kv-cache.js';

export class CpuSimdBackend extends CpuRefBackend {
  override readonly name: string = 'cpu-simd';
  readonly heap = new WasmHeap();

  /**
   * Matrices (2-D: weights) go into the wasm heap, registered as matmul weights when their sizes need no padding;
   * vectors, states and inputs stay ordinary arrays.
   */
  override fromFloat32(data: Float32Array, shape: readonly number[]): CpuTensor {
    if (shape.length !== 2) return super.fromFloat32(data, shape);
    const { view, ptr } = this.heap.store(data);
    if (shape[0] % 4 === 0 && shape[1] % 4 === 0) this.heap.weights.set(view, { ptr, bf16: false });
    return new CpuTensor(view, [...shape]);
  }
  /**
   * BF16 matrices are kept as BF16 in the heap for the matmul kernels (exact: the same values, half the memory
   * traffic) plus a float32 copy outside it for the ops that read `data`; everything else is fromFloat32.
   */
  fromBytes(bytes: Uint8Array, dtype: 'BF16' | 'F16' | 'F32', shape: readonly number[]): CpuTensor {
    if (dtype !== 'BF16' || shape.length !== 2 || shape[0] % 4 !== 0 || shape[1] % 8 !== 0) return this.fromFloat32(toFloat32(bytes, dtype), shape);
    const data = toFloat32(bytes, dtype);
    this.heap.weights.set(data, { ptr: this.heap.storeBytes(bytes), bf16: true });
    return new CpuTensor(data, [...shape]);
  }
  /** SSM states ([heads, p, n]) live in heap blocks, updated in place by the scan kernel; other zeros are arrays. */
  override zeros(shape: readonly number[]): CpuTensor {
    if (shape.length !== 3) return super.zeros(shape);
    return new CpuTensor(this.heap.block(shape[0] * shape[1] * shape[2]), [...shape]);
  }
  override newKvCache(dims: AttnDims): KvCache {
    return new SimdKvCache(this.heap, dims.kvHeads * dims.headDim);
  }
  /** Gives heap blocks (SSM states, KV caches) back; they would also go back when garbage-collected. */
  override release(t?: Tensor | KvCache): void {
    if (t instanceof SimdKvCache) t.release();
    else if (t instanceof CpuTensor) this.heap.releaseBlock(t.data);
  }
  /** From the first forward pass on, op outputs live in a step arena that each beginStep rewinds (heap.out). */
  beginStep(): void {
    this.heap.beginStep();
  }
  /** A copy (arena outputs are overwritten by the next forward pass). */
  override toFloat32(x: CpuTensor): Float32Array {
    return x.data.buffer instanceof SharedArrayBuffer ? x.data.slice() : x.data;
  }
  override embed = (table: CpuTensor, ids: Int32Array): CpuTensor => basic.embed(this.heap, table, ids);
  override rmsNorm = (x: CpuTensor, w: CpuTensor, eps: number): CpuTensor => basic.rmsNorm(this.heap, x, w, eps);
  override add = (a: CpuTensor, b: CpuTensor): CpuTensor => basic.add(this.heap, a, b);
  override addBias = (x: CpuTensor, b: CpuTensor): CpuTensor => basic.addBias(this.heap, x, b);
  override gatherRows = (x: CpuTensor, rows: Int32Array): CpuTensor => basic.gatherRows(this.heap, x, rows);
  override splitCols = (x: CpuTensor, widths: readonly number[]): CpuTensor[] => basic.splitCols(this.heap, x, widths);
  override relu2 = (x: CpuTensor): CpuTensor => basic.relu2(this.heap, x);
  override matmul = (x: CpuTensor, w: CpuTensor): CpuTensor => matmulSimd(this.heap, x, w);
  override mambaConv = (xBC: CpuTensor, w: CpuTensor, b: CpuTensor | null, segments: readonly Segment[], states: readonly CpuTensor[]): CpuTensor =>
    mambaConvFast(this.heap, xBC, w, b, segments, states);
  override gatedRmsNorm = (y: CpuTensor, z: CpuTensor, w: CpuTensor, groupSize: number, eps: number): CpuTensor =>
    gatedRmsNormFast(this.heap, y, z, w, groupSize, eps);
  override ssmScan = (
    x: CpuTensor, dt: CpuTensor, B: CpuTensor, C: CpuTensor, aLog: CpuTensor, d: CpuTensor, dtBias: CpuTensor,
    dims: SsmDims, segments: readonly Segment[], states: readonly CpuTensor[],
  ): CpuTensor => ssmScanSimd(this.heap, x, dt, B, C, aLog, d, dtBias, dims, segments, states);
  override attention(q: CpuTensor, k: CpuTensor, v: CpuTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly KvCache[]): CpuTensor {
    return attentionSimd(this.heap, q, k, v, dims, segments, caches as CpuKvCache[]);
  }
  override moeExperts(x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
    return moeExpertsSimd(this.heap, x, routing, up, down);
  }
}
