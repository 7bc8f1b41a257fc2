/**
 * Kernel lab: batch-1 GEMV variants on the real Nano's decode shapes, each launched back to back (no events
 * between launches) and timed with CUDA events around the batch: microseconds per call and achieved weight
 * bandwidth, next to a device-to-device copy of the same bytes. Not a test; numbers go to BENCHMARKS.md.
 * Usage (GPU machine): npx tsx bench/cuda-gemv.ts [reps]
 */
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { check } from '../src/backends/cuda/ffi/driver.js';
import { gemv1Grid } from '../src/backends/cuda/ops/matmul.js';

const reps = Number(process.argv[2] ?? 200);
const b = new CudaBackend();
const dev = b.dev;
const ev = () => {
  const p: [bigint | null] = [null];
  check(dev.drv.cuEventCreate(p, 0), 'cuEventCreate');
  return p[0]!;
};
const [e0, e1] = [ev(), ev()];
function time(fn: () => void): number {
  fn();
  dev.sync();
  check(dev.drv.cuEventRecord(e0, dev.stream), 'cuEventRecord');
  for (let i = 0; i < reps; i++) fn();
  check(dev.drv.cuEventRecord(e1, dev.stream), 'cuEventRecord');
  dev.sync();
  const ms: [number] = [0];
  check(dev.drv.cuEventElapsedTime(ms, e0, e1), 'cuEventElapsedTime');
  return (ms[0] * 1000) / reps;
}

const shapes: Array<[string, number, number]> = [
  ['mamba in_proj', 10304, 2688], ['mamba out_proj', 2688, 4096], ['shared up', 3712, 2688], ['shared down', 2688, 3712],
  ['attn q', 4096, 2688], ['attn k', 256, 2688], ['lm_head', 131072, 2688], ['expert up', 1856, 2688],
];
const rows: string[] = ['| shape | kernel | us per call | TB/s |', '|---|---|---|---|'];
for (const [name, M, K] of shapes) {
  const w = b.randomTensor([M, K], 'bf16', -0.02, 0.02, 7);
  const x = b.randomTensor([1, K], 'f32', -1, 1, 8);
  const y = b.persistent([1, M]);
  const bytes = M * K * 2;
  const row = (kernel: string, us: number) => rows.push(`| ${name} [${M}, ${K}] | ${kernel} | ${us.toFixed(2)} | ${(bytes / us / 1e6).toFixed(2)} |`);
  const copyDst = b.persistent([M, K], 'bf16');
  row('memcpy DtoD (read + write)', time(() => dev.copy(copyDst.ptr, w.ptr, bytes)));
  row('gemv_bf16_n1 (warp per row)', time(() => b.kernels.launch('gemv_bf16_n1', Math.ceil(M / 8), 256, [x.ptr, K, w.ptr, y.ptr, M, 1, K, M])));
  const lanes = K <= 3072 ? 12 : 16;
  for (const perSm of [1, 2, 4, 6, 8, 16]) {
    const grid = Math.min(Math.ceil(M / 4), dev.info.multiprocessors * perSm);
    row(`gemv1_bf16_l${lanes} grid ${grid}`, time(() => b.kernels.launch(`gemv1_bf16_l${lanes}`, grid, 128, [x.ptr, w.ptr, y.ptr, K, M, 0], K * 4)));
  }
  row(`gemv1 default grid ${gemv1Grid(b, M, lanes)}`, time(() => b.kernels.launch(`gemv1_bf16_l${lanes}`, gemv1Grid(b, M, lanes), 128, [x.ptr, w.ptr, y.ptr, K, M, 0], K * 4)));
  for (const t of [w, x, y, copyDst]) b.release(t);
}
console.log(`${dev.info.name}, ${reps} back-to-back calls per row (PDL ${b.kernels.pdlEnabled ? 'on' : 'off'})`);
console.log(rows.join('\n'));
