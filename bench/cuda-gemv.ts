/**
 * Kernel lab: batch-1 GEMV variants on the real Nano's decode shapes, each launched back to back (no events
 * between launches) and timed with CUDA events around the batch: microseconds per call and achieved weight
 * bandwidth, next to a device-to-device copy of the same bytes. Not a test; numbers go to BENCHMARKS.md.
 * Usage (GPU machine): npx tsx bench/cuda-gemv.ts [reps]
 */
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { check } from '../src/backends/cuda/ffi/driver.js';
import { gemv1Grid } from '../src/backends/cuda/ops/matmul.js';
import { pointerTable } from '../src/backends/cuda/ops/moe.js';
import { moeDown1Grid, moeDown1Res } from '../src/backends/cuda/ops/moe-down1.js';
import { CudaTensor } from '../src/backends/cuda/tensor.js';

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
// The batch-1 MoE tail (top-6 of 8 experts): moe_down1 + moe_combine1 + add_f32 (three launches, partials through
// memory) vs moe_down1_res (one launch, ops/moe-down1.ts) and its L2-prefetch variants and grids. Weights: 80 MB.
{
  const [H, I, S, K, E] = [2688, 1856, 2, 6, 8];
  const Is = S * I;
  const downAll = b.randomTensor([E * H, I], 'bf16', -0.02, 0.02, 21);
  const downS = b.randomTensor([H, Is], 'bf16', -0.02, 0.02, 22);
  const table = pointerTable(b, Array.from({ length: E }, (_, e) => new CudaTensor([H, I], 'bf16', downAll.ptr + e * H * I * 2, I, -1, null)));
  const act = b.randomTensor([1, Is + K * I], 'f32', 0, 1, 23);
  const ids = b.persistent([K], 'i32');
  dev.upload(ids.ptr, Int32Array.from([7, 2, 0, 5, 3, 6]));
  const wts = b.randomTensor([1, K], 'f32', 0, 1, 24);
  const resid = b.randomTensor([1, H], 'f32', -1, 1, 25);
  const part = b.persistent([S + K, H]);
  const moe = b.persistent([1, H]);
  const out = b.persistent([1, H]);
  const bytes = (S + K) * H * I * 2;
  const row = (kernel: string, us: number) => rows.push(`| MoE tail [${S} + ${K}] x [${H}, ${I}] | ${kernel} | ${us.toFixed(2)} | ${(bytes / us / 1e6).toFixed(2)} |`);
  const downGrid = Math.max(1, Math.min(Math.ceil(((S + K) * H) / 4), dev.info.multiprocessors * 8)); // as moe.ts
  const down1 = () => b.kernels.launch('moe_down1_l8', downGrid, 128, [act.ptr, ids.ptr, table, downS.ptr, part.ptr, K, S, H, I, Is, 0]);
  const combine1 = () => b.kernels.launch('moe_combine1', Math.ceil(H / 256), 256, [part.ptr, wts.ptr, moe.ptr, K, S, H]);
  row('moe_down1_l8 + moe_combine1 + add_f32', time(() => (down1(), combine1(), b.kernels.launch('add_f32', b.blocks(H), 256, [resid.ptr, moe.ptr, out.ptr, H]))));
  row('moe_down1_l8 + moe_combine1', time(() => (down1(), combine1())));
  row(`moe_down1_l8 alone grid ${downGrid}`, time(down1));
  // whole rounds: every warp carries the same number of rows
  for (const rounds of [5, 6, 7, 8]) {
    const g = Math.ceil(((S + K) * H) / rounds / 4);
    row(`moe_down1_l8 alone grid ${g} (${rounds} rows per warp)`, time(() => b.kernels.launch('moe_down1_l8', g, 128, [act.ptr, ids.ptr, table, downS.ptr, part.ptr, K, S, H, I, Is, 0])));
  }
  const base = { act: act.ptr, ids: ids.ptr, wts: wts.ptr, downTable: table, downS, resid: resid.ptr, out: out.ptr, K, I };
  const grid = moeDown1Grid(b, H, 8);
  for (const kernel of ['moe_down1_res_l8_rots', 'moe_down1_res_l8', 'moe_down1_res_l8_pf0']) {
    row(`${kernel} grid ${grid}`, time(() => moeDown1Res(b, { ...base, kernel })));
    // fewer blocks (warps walk several outputs) and 64-thread blocks (warps spread more evenly over the SMs)
    for (const [g, block] of [[dev.info.multiprocessors * 2, 128], [dev.info.multiprocessors * 4, 128], [Math.ceil(H / 2), 64]]) {
      const a = [act.ptr, ids.ptr, wts.ptr, table, downS.ptr, resid.ptr, out.ptr, K, S, H, I, Is, null];
      row(`${kernel} grid ${g} block ${block}`, time(() => b.kernels.launch(kernel, g, block, a)));
    }
  }
  for (const t of [downAll, downS, act, ids, wts, resid, part, moe, out]) b.release(t);
}
console.log(`${dev.info.name}, ${reps} back-to-back calls per row (PDL ${b.kernels.pdlEnabled ? 'on' : 'off'})`);
console.log(rows.join('\n'));
