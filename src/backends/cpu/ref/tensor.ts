/** The CPU backends' tensor: a Float32Array in row-major order. */
import type { KvCache, Tensor } from '../../../ops/ops.js';

export class CpuTensor implements Tensor {
  constructor(readonly data: Float32Array, readonly shape: readonly number[]) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`CpuTensor: shape [${shape}] needs ${n} values, got ${data.length}`);
  }
  /** Size of the last dimension (row width). */
  get cols(): number {
    return this.shape[this.shape.length - 1];
  }
  get rows(): number {
    return this.data.length / this.cols;
  }
}

/** Growable K/V rows for one attention layer of one sequence: [T, kvHeads * headDim] each. */
export class CpuKvCache implements KvCache {
  k: Float32Array;
  v: Float32Array;
  length = 0;
  constructor(readonly width: number, capacity = 64) {
    this.k = new Float32Array(capacity * width);
    this.v = new Float32Array(capacity * width);
  }
  append(k: Float32Array, v: Float32Array, rows: number): void {
    const need = (this.length + rows) * this.width;
    if (need > this.k.length) {
      const cap = Math.max(need, this.k.length * 2);
      const k2 = new Float32Array(cap);
      const v2 = new Float32Array(cap);
      k2.set(this.k.subarray(0, this.length * this.width));
      v2.set(this.v.subarray(0, this.length * this.width));
      this.k = k2;
      this.v = v2;
    }
    this.k.set(k.subarray(0, rows * this.width), this.length * this.width);
    this.v.set(v.subarray(0, rows * this.width), this.length * this.width);
    this.length += rows;
  }
}

export function t(data: Float32Array, shape: readonly number[]): CpuTensor {
  return new CpuTensor(data, shape);
}
