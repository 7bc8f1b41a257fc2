/**
 * The fast CPU backend: the reference backend with its hot ops (matmul, MoE experts) replaced by faster
 * kernels. Every op is checked against the reference by test/ops/parity.test.ts.
 */
import type { Routing } from '../../../ops/ops.js';
import { CpuRefBackend } from '../ref/backend.js';
import type { CpuTensor } from '../ref/tensor.js';
import { matmulFast } from './matmul.js';
import { moeExpertsFast } from './moe.js';

export class CpuFastBackend extends CpuRefBackend {
  override readonly name: string = 'cpu-fast';
  override matmul = matmulFast;
  override moeExperts(x: CpuTensor, routing: Routing<CpuTensor>, up: readonly CpuTensor[], down: readonly CpuTensor[]): CpuTensor {
    return moeExpertsFast(x, routing, up, down);
  }
}
