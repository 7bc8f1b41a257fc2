/**
 * The CPU reference backend: plain TypeScript loops, float32 tensors, float64 accumulation. It is the oracle
 * every other backend is tested against; it favours readability over speed.
 */
import type { AttnDims, KvCache, OpName, Ops, Routing } from '../../../ops/ops.js';
import { add, addBias, embed, gatherRows, matmul, relu2, rmsNorm, splitCols } from './basic.js';
import { attention } from './attention.js';
import { gatedRmsNorm, mambaConv, ssmScan } from './mamba.js';
import { moeExperts, moeRoute } from './moe.js';
import { CpuKvCache, CpuTensor } from './tensor.js';

const ALL: ReadonlySet<OpName> = new Set<OpName>([
  'embed', 'rmsNorm', 'matmul', 'add', 'addBias', 'gatherRows', 'splitCols', 'relu2', 'mambaConv', 'ssmScan', 'gatedRmsNorm',
  'attention', 'moeRoute', 'moeExperts',
]);

export class CpuRefBackend implements Ops<CpuTensor> {
  readonly name: string = 'cpu-ref';
  supports(op: OpName): boolean {
    return ALL.has(op);
  }
  fromFloat32(data: Float32Array, shape: readonly number[]): CpuTensor {
    return new CpuTensor(data, [...shape]);
  }
  toFloat32(x: CpuTensor): Float32Array {
    return x.data;
  }
  zeros(shape: readonly number[]): CpuTensor {
    return new CpuTensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), [...shape]);
  }
  copy(dst: CpuTensor, src: CpuTensor): void {
    dst.data.set(src.data);
  }
  newKvCache(dims: AttnDims): KvCache {
    return new CpuKvCache(dims.kvHeads * dims.headDim);
  }
  release(): void {}
  embed = embed;
  rmsNorm = rmsNorm;
  matmul = matmul;
  add = add;
  addBias = addBias;
  gatherRows = gatherRows;
  splitCols = splitCols;
  relu2 = relu2;
  mambaConv = mambaConv;
  ssmScan = ssmScan;
  gatedRmsNorm = gatedRmsNorm;
  attention(q: CpuTensor, k: CpuTensor, v: CpuTensor, dims: AttnDims, segments: Parameters<typeof attention>[4], caches: readonly KvCache[]): CpuTensor {
    return attention(q, k, v, dims, segments, caches as CpuKvCache[]);
  }
  moeRoute = moeRoute;
  moeExperts(x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
    return moeExperts(x, routing, up, down);
  }
}
