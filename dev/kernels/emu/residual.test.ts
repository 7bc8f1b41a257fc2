import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, embed, rmsNorm } from '../../../src/backends/cpu/ref/basic.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// residual.cu's add_rms_norm_wide (one 1024-thread block per row, up to 4 values per thread, one block_sum) on
// the CPU emulator, launched as backend.ts's addRmsNorm does, against cpu-ref's add then rmsNorm. Widths below one
// block, between, and the 4096 limit leave idle threads and partial passes.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

describe.skipIf(!!why)('residual.cu on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('residual.cu');
  });
  afterAll(() => e?.freeAll());

  it.each([
    ['add_rms_norm_wide', 1024, 3, 1000, 0],
    ['add_rms_norm_wide', 1024, 2, 2688, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
    ['add_rms_norm_wide', 1024, 1, 4096, 0],
  ] as const)('%s (block %i): %i rows of %i (flags %i)', (kernel, block, rows, H, flags) => {
    const a = randn(1, rows * H);
    const b = randn(2, rows * H, 0.5);
    const w = randn(3, H);
    const eps = 1e-5;
    const h = e.alloc(rows * H * 4);
    const out = e.alloc(rows * H * 4);
    e.setFlags(flags);
    e.launch(kernel, rows, block, [e.upload(a), e.upload(b), h, e.upload(w), out, H, eps]);
    const sum = add(new CpuTensor(a, [rows, H]), new CpuTensor(b, [rows, H]));
    // the residual is the same float32 add, so exact; the norm sums squares in another order
    expect(e.download(h, new Float32Array(rows * H))).toEqual(sum.data);
    expect(relErr(e.download(out, new Float32Array(rows * H)), rmsNorm(sum, new CpuTensor(w, [H]), eps).data)).toBeLessThanOrEqual(1e-5);
  });

  it('add_rms_norm_wide with no b and no h: a plain RMSNorm of a (the flush of a deferred norm)', () => {
    const H = 2688;
    const a = randn(4, H);
    const w = randn(5, H);
    const out = e.alloc(H * 4);
    e.launch('add_rms_norm_wide', 1, 1024, [e.upload(a), null, null, e.upload(w), out, H, 1e-5]);
    expect(relErr(e.download(out, new Float32Array(H)), rmsNorm(new CpuTensor(a, [1, H]), new CpuTensor(w, [H]), 1e-5).data)).toBeLessThanOrEqual(1e-5);
  });

  // the first layer's norm with the embedding lookup in the same kernel (backend.ts's rmsNorm after a deferred
  // embed): h must be the table row exactly, out cpu-ref's embed then rmsNorm
  it.each([
    ['bf16', 2688, 2, 0],
    ['f32', 1000, 3, EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
  ] as const)('embed_rms_norm_wide, %s table: rows of %i, %i ids (flags %i)', (dtype, H, n, flags) => {
    const vocab = 50;
    const t = toBf16(randn(6, vocab * H));
    const w = randn(7, H);
    const ids = Int32Array.from({ length: n }, (_, i) => (i * 17 + 49) % vocab); // the last row first
    const h = e.alloc(n * H * 4);
    const out = e.alloc(n * H * 4);
    e.setFlags(flags);
    const table = dtype === 'bf16' ? e.upload(t.raw) : e.upload(t.values);
    e.launch('embed_rms_norm_wide', n, 1024, [table, dtype === 'bf16' ? 1 : 0, e.upload(ids), h, e.upload(w), out, H, 1e-5]);
    const rows = embed(new CpuTensor(t.values, [vocab, H]), ids);
    expect(e.download(h, new Float32Array(n * H))).toEqual(rows.data);
    expect(relErr(e.download(out, new Float32Array(n * H)), rmsNorm(rows, new CpuTensor(w, [H]), 1e-5).data)).toBeLessThanOrEqual(1e-5);
  });
});
