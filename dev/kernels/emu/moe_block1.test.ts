import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, matmul, relu2, rmsNorm } from '../../../src/backends/cpu/ref/basic.js';
import { moeExperts, moeRoute } from '../../../src/backends/cpu/ref/moe.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import type { CudaCtx } from '../../../src/backends/cuda/tensor.js';
import { CudaTensor } from '../../../src/backends/cuda/tensor.js';
import { launchMoeDown, moeLayer1 } from '../../../src/backends/cuda/ops/moe-block1.js';
import { ticketBuffer } from '../../../src/backends/cuda/ops/tickets.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// A batch-1 MoE layer through ops/moe-block1.ts on the CPU emulator, every mode: router_topk_norm_bf16 then moe_up1_l12
// (every up row); router_logits_norm_bf16 then moe_up1_topk_l12; or moe_router_up1 (router rows and up rows in one
// kernel, warps waiting on a device counter for the router rows); then moe_down1_res (down rows, weighted sum,
// residual add), against cpu-ref's add -> rmsNorm -> moeRoute -> moeExperts + shared MLP -> add. By default the
// emulator runs blocks one after another, so moe_router_up1 runs there in block order only (its router warps are the
// first blocks; in reverse order its waiting warps come first and the wait's bound traps); in cooperative mode every
// block is live and the waiting blocks may come first.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

const EPS = 1e-5;

describe.skipIf(!!why)('moe_block1.cu (+ moe_up1, moe_down1_res) on the CPU emulator', () => {
  const files: Record<string, EmuKernels> = {};
  beforeAll(() => {
    for (const f of ['moe_block1.cu', 'gemv1.cu', 'moe_down1.cu', 'moe.cu']) files[f] = emuKernels(f);
  });
  afterAll(() => Object.values(files).forEach((e) => e.freeAll()));

  /** emuCtx whose launches go to the file that defines the kernel (buffers are plain host memory, shared). */
  function ctx(launched: string[], sms: number): CudaCtx {
    const e = files['moe_block1.cu'];
    const c = emuCtx(e, launched, sms) as unknown as { kernels: { launch: EmuKernels['launch']; resident: () => number }; dev: { upload?: unknown } };
    c.dev.upload = (ptr: number, data: BigUint64Array) => e.write(ptr, data); // pointerTable's one-time table
    const owner = (name: string) =>
      files[name.startsWith('moe_route') ? 'moe_block1.cu' : name.startsWith('moe_up1') ? 'gemv1.cu' : name.startsWith('router') ? 'moe.cu' : 'moe_down1.cu'];
    c.kernels = {
      resident: () => 64, // as emuCtx: no occupancy limit
      launch: (name, ...rest) => {
        launched.push(name);
        owner(name).launch(name, ...rest);
      },
    };
    return c as unknown as CudaCtx;
  }

  it.each([
    { H: 64, I: 32, Is: 64, E: 16, K: 4, nGroup: 1, topkGroup: 1, sms: 1, flags: 0, mode: 'split' },
    { H: 128, I: 48, Is: 96, E: 32, K: 6, nGroup: 4, topkGroup: 2, sms: 2, flags: EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads, mode: 'split' },
    { H: 64, I: 32, Is: 64, E: 16, K: 4, nGroup: 1, topkGroup: 1, sms: 1, flags: 0, mode: 'split, top-k in moe_up1' },
    { H: 128, I: 48, Is: 96, E: 32, K: 6, nGroup: 4, topkGroup: 2, sms: 2, flags: EMU_FLAGS.reverseBlocks, mode: 'split, top-k in moe_up1' },
    { H: 64, I: 32, Is: 64, E: 16, K: 4, nGroup: 1, topkGroup: 1, sms: 1, flags: 0, mode: 'fused' },
    { H: 128, I: 48, Is: 96, E: 32, K: 6, nGroup: 4, topkGroup: 2, sms: 2, flags: EMU_FLAGS.reverseThreads, mode: 'fused' },
    { H: 128, I: 40, Is: 120, E: 8, K: 2, nGroup: 1, topkGroup: 1, sms: 1, flags: 0, mode: 'fused' },
    // every block live at once, the waiting blocks first: the wait yields until the router rows arrive
    { H: 64, I: 32, Is: 64, E: 16, K: 4, nGroup: 1, topkGroup: 1, sms: 1, flags: EMU_FLAGS.cooperative | EMU_FLAGS.reverseBlocks, mode: 'fused' },
    { H: 128, I: 48, Is: 96, E: 32, K: 6, nGroup: 4, topkGroup: 2, sms: 2, flags: EMU_FLAGS.cooperative | EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads, mode: 'fused' },
    { H: 128, I: 48, Is: 96, E: 32, K: 6, nGroup: 4, topkGroup: 2, sms: 2, flags: EMU_FLAGS.cooperative, mode: 'split' },
  ])('H $H, I $I, shared $Is, top-$K of $E (groups $nGroup/$topkGroup), $sms SMs, $mode', ({ H, I, Is, E, K, nGroup, topkGroup, sms, flags, mode }) => {
    const knobs = ['NEMOTRON_CUDA_MOE_LAYER', 'NEMOTRON_CUDA_MOE_TOPK_IN_UP'];
    const saved = knobs.map((k) => process.env[k]);
    process.env.NEMOTRON_CUDA_MOE_LAYER = mode === 'fused' ? 'fused' : 'split';
    process.env.NEMOTRON_CUDA_MOE_TOPK_IN_UP = mode === 'split, top-k in moe_up1' ? '1' : '0';
    try {
      layerCase(H, I, Is, E, K, nGroup, topkGroup, sms, flags, mode);
    } finally {
      knobs.forEach((k, i) => {
        if (saved[i] === undefined) delete process.env[k];
        else process.env[k] = saved[i];
      });
    }
  });

  it('moe_router_up1: warps that wait for router rows which never come trap instead of hanging', () => {
    const saved = process.env.NEMOTRON_CUDA_MOE_LAYER;
    process.env.NEMOTRON_CUDA_MOE_LAYER = 'fused';
    try {
      // reverse block order: the waiting warps' blocks run first and the router warps' blocks never get to run
      expect(() => layerCase(64, 32, 64, 16, 4, 1, 1, 1, EMU_FLAGS.reverseBlocks, 'fused')).toThrow(/__trap/);
    } finally {
      for (const f of Object.values(files)) f.setFlags(0);
      if (saved === undefined) delete process.env.NEMOTRON_CUDA_MOE_LAYER;
      else process.env.NEMOTRON_CUDA_MOE_LAYER = saved;
    }
  });

  function layerCase(H: number, I: number, Is: number, E: number, K: number, nGroup: number, topkGroup: number, sms: number, flags: number, mode: string): void {
    const e = files['moe_block1.cu'];
    for (const f of Object.values(files)) f.setFlags(flags);
    const a = randn(1, H);
    const b = randn(2, H, 0.5);
    const nw = randn(3, H);
    const gate = toBf16(randn(4, E * H, 1 / Math.sqrt(H)));
    const bias = randn(5, E, 0.1);
    const upS = toBf16(randn(6, Is * H, 1 / Math.sqrt(H)));
    const downS = toBf16(randn(7, H * Is, 1 / Math.sqrt(Is)));
    const ups = Array.from({ length: E }, (_, x) => toBf16(randn(100 + x, I * H, 1 / Math.sqrt(H))));
    const downs = Array.from({ length: E }, (_, x) => toBf16(randn(200 + x, H * I, 1 / Math.sqrt(I))));
    const dims = { experts: E, topK: K, nGroup, topkGroup, normTopkProb: true, scale: 2.5 };
    const bf = (t: { raw: Uint16Array }, shape: number[]) => new CudaTensor(shape, 'bf16', e.upload(t.raw), shape[1], -1, null);
    const f32 = (v: Float32Array, shape: number[]) => new CudaTensor(shape, 'f32', e.upload(v), shape[shape.length - 1], -1, null);

    const launched: string[] = [];
    const c = ctx(launched, sms);
    const h = e.alloc(H * 4);
    const u = new CudaTensor([1, H], 'f32', e.alloc(H * 4), H, 0, null);
    const norm = { a: e.upload(a), b: e.upload(b), h, w: e.upload(nw), eps: EPS, H, out: u };
    const d = moeLayer1(c, u, norm, bf(gate, [E, H]), f32(bias, [E]), dims, ups.map((w) => bf(w, [I, H])), downs.map((w) => bf(w, [H, I])), bf(upS, [Is, H]), bf(downS, [H, Is]));
    expect(d).not.toBeNull();
    const out = e.alloc(H * 4);
    const counter = () => e.download(ticketBuffer(c, 'moeRouterUp', 1), new Int32Array(1))[0];
    if (mode === 'fused') expect(counter(), 'router rows counted').toBe(E);
    launchMoeDown(c, d!, h, out); // h + layer(u): the residual is the staged sum
    if (mode === 'fused') expect(counter(), 'moe_down1_res zeroes the counter for the next layer').toBe(0);
    const heads: Record<string, string[]> = {
      fused: ['moe_router_up1_l12_b6'],
      split: ['router_topk_norm_bf16', 'moe_up1_l12'],
      'split, top-k in moe_up1': ['router_logits_norm_bf16', 'moe_up1_topk_l12'],
    };
    expect(launched).toEqual([...heads[mode], expect.stringMatching(/^moe_down1_res/)]);

    const hRef = add(new CpuTensor(a, [1, H]), new CpuTensor(b, [1, H]));
    const uRef = rmsNorm(hRef, new CpuTensor(nw, [H]), EPS);
    const routing = moeRoute(uRef, new CpuTensor(gate.values, [E, H]), new CpuTensor(bias, [E]), dims);
    const routed = moeExperts(uRef, routing, ups.map((w) => new CpuTensor(w.values, [I, H])), downs.map((w) => new CpuTensor(w.values, [H, I])));
    const shared = matmul(relu2(matmul(uRef, new CpuTensor(upS.values, [Is, H]))), new CpuTensor(downS.values, [H, Is]));
    const want = add(hRef, add(routed, shared));
    expect(Array.from(e.download(d!.args.ids, new Int32Array(K)))).toEqual(Array.from(routing.experts.data));
    expect(relErr(e.download(d!.args.wts, new Float32Array(K)), routing.weights.data)).toBeLessThanOrEqual(1e-5);
    expect(relErr(e.download(u.ptr, new Float32Array(H)), uRef.data)).toBeLessThanOrEqual(1e-5);
    expect(relErr(e.download(out, new Float32Array(H)), want.data)).toBeLessThanOrEqual(1e-5);
    // the tail alone (no residual): the layer output into d.out
    launchMoeDown(c, d!, 0, d!.out.ptr);
    expect(relErr(e.download(d!.out.ptr, new Float32Array(H)), add(routed, shared).data)).toBeLessThanOrEqual(1e-5);
  }
});
