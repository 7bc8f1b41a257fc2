/**
 * The SIMD backend's KV cache: the reference CpuKvCache (same fields, so every attention path reads it), with its
 * K and V rows in heap blocks so that the attention kernels read them in place instead of copying the whole
 * cache into scratch at every step. Grows by doubling; the old blocks go back to the heap's free list.
 */
import { CpuKvCache } from '../ref/tensor.js';
import type { WasmHeap } from './heap.js';

export class SimdKvCache extends CpuKvCache {
  constructor(private readonly heap: WasmHeap, width: number, capacity = 64) {
    super(width, 0);
    this.k = heap.block(capacity * width);
    this.v = heap.block(capacity * width);
  }

  override append(k: Float32Array, v: Float32Array, rows: number): void {
    const need = (this.length + rows) * this.width;
    if (need > this.k.length) {
      const cap = Math.max(need, this.k.length * 2);
      const k2 = this.heap.block(cap);
      const v2 = this.heap.block(cap);
      k2.set(this.k.subarray(0, this.length * this.width));
      v2.set(this.v.subarray(0, this.length * this.width));
      this.release();
      this.k = k2;
      this.v = v2;
    }
    this.k.set(k.subarray(0, rows * this.width), this.length * this.width);
    this.v.set(v.subarray(0, rows * this.width), this.length * this.width);
    this.length += rows;
  }

  /** Gives the rows' memory back (the cache must not be used afterwards). */
  release(): void {
    this.heap.releaseBlock(this.k);
    this.heap.releaseBlock(this.v);
  }
}
