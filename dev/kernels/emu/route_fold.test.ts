import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, matmul, relu2, rmsNorm } from '../../../src/backends/cpu/ref/basic.js';
import { moeExperts, moeRoute } from '../../../src/backends/cpu/ref/moe.js';
import { CpuTensor } from '../../../src/backends/cpu/ref/tensor.js';
import type { CudaCtx } from '../../../src/backends/cuda/tensor.js';
import { CudaTensor } from '../../../src/backends/cuda/tensor.js';
import { launchMoeDown } from '../../../src/backends/cuda/ops/moe-block1.js';
import { routeFoldLayer } from '../../../src/backends/cuda/ops/route-fold.js';
import { randn } from '../../../test/ops/cases.js';
import { relErr, toBf16 } from '../../../test/helpers/numeric.js';
import { emuUnavailable } from './build.js';
import { emuCtx } from './ctx.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// A batch-1 MoE layer with its router folded into the GEMV before it (ops/route-fold.ts, kernels/route_fold.cu) on
// the CPU emulator: route_fold_weights, outproj_route, moe_up1_route_l12, then moe_down1_res, against cpu-ref's
// matmul (out_proj) -> add (residual) -> rmsNorm -> moeRoute -> moeExperts + shared MLP -> add. The selected
// experts must be the reference's; the logits differ from it only by float32 association.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

const EPS = 1e-5;

describe.skipIf(!!why)('route_fold.cu (+ moe_down1_res) on the CPU emulator', () => {
  const files: Record<string, EmuKernels> = {};
  beforeAll(() => {
    for (const f of ['route_fold.cu', 'moe_down1.cu']) files[f] = emuKernels(f);
  });
  afterAll(() => Object.values(files).forEach((e) => e.freeAll()));

  function ctx(launched: string[], sms: number): CudaCtx {
    const e = files['route_fold.cu'];
    const c = emuCtx(e, launched, sms) as unknown as { kernels: { launch: EmuKernels['launch'] }; dev: { upload?: unknown } };
    c.dev.upload = (ptr: number, data: BigUint64Array) => e.write(ptr, data); // pointerTable's one-time table
    c.kernels = {
      launch: (name, ...rest) => {
        launched.push(name);
        files[name.startsWith('moe_down1') ? 'moe_down1.cu' : 'route_fold.cu'].launch(name, ...rest);
      },
    };
    return c as unknown as CudaCtx;
  }

  it.each([
    { H: 64, Kin: 3080, I: 32, Is: 64, E: 16, K: 4, nGroup: 1, topkGroup: 1, sms: 1, flags: 0 },
    { H: 128, Kin: 3200, I: 48, Is: 96, E: 32, K: 6, nGroup: 4, topkGroup: 2, sms: 2, flags: EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads },
    { H: 136, Kin: 4096, I: 40, Is: 120, E: 8, K: 2, nGroup: 1, topkGroup: 1, sms: 1, flags: EMU_FLAGS.reverseThreads },
  ])('H $H, GEMV rows of $Kin, shared $Is, top-$K of $E (groups $nGroup/$topkGroup)', ({ H, Kin, I, Is, E, K, nGroup, topkGroup, sms, flags }) => {
    const e = files['route_fold.cu'];
    for (const f of Object.values(files)) f.setFlags(flags);
    const y = randn(1, Kin);
    const wo = toBf16(randn(2, H * Kin, 1 / Math.sqrt(Kin)));
    const h = randn(3, H);
    const nw = randn(4, H);
    const gate = toBf16(randn(5, E * H, 1 / Math.sqrt(H)));
    const bias = randn(6, E, 0.1);
    const upS = toBf16(randn(7, Is * H, 1 / Math.sqrt(H)));
    const downS = toBf16(randn(8, H * Is, 1 / Math.sqrt(Is)));
    const ups = Array.from({ length: E }, (_, x) => toBf16(randn(100 + x, I * H, 1 / Math.sqrt(H))));
    const downs = Array.from({ length: E }, (_, x) => toBf16(randn(200 + x, H * I, 1 / Math.sqrt(I))));
    const dims = { experts: E, topK: K, nGroup, topkGroup, normTopkProb: true, scale: 2.5 };
    const bf = (t: { raw: Uint16Array }, shape: number[]) => new CudaTensor(shape, 'bf16', e.upload(t.raw), shape[1], -1, null);
    const f32 = (v: Float32Array, shape: number[]) => new CudaTensor(shape, 'f32', e.upload(v), shape[shape.length - 1], -1, null);

    const launched: string[] = [];
    const c = ctx(launched, sms);
    const yo = new CudaTensor([1, H], 'f32', e.alloc(H * 4), H, 0, null);
    const hn = e.alloc(H * 4);
    const u = new CudaTensor([1, H], 'f32', e.alloc(H * 4), H, 0, null);
    const g = { x: f32(y, [1, Kin]), w: bf(wo, [H, Kin]), out: yo };
    const norm = { a: e.upload(h), b: yo.ptr, h: hn, w: e.upload(nw), eps: EPS, H, out: u };
    const d = routeFoldLayer(c, g, norm, bf(gate, [E, H]), f32(bias, [E]), dims, ups.map((w) => bf(w, [I, H])), downs.map((w) => bf(w, [H, I])), bf(upS, [Is, H]), bf(downS, [H, Is]));
    expect(d).not.toBeNull();
    const out = e.alloc(H * 4);
    launchMoeDown(c, d!, hn, out);
    expect(launched).toEqual(['route_fold_weights', 'outproj_route', 'moe_up1_route_l12', expect.stringMatching(/^moe_down1_res/)]);

    const yoRef = matmul(new CpuTensor(y, [1, Kin]), new CpuTensor(wo.values, [H, Kin]));
    const hRef = add(new CpuTensor(h, [1, H]), yoRef);
    const uRef = rmsNorm(hRef, new CpuTensor(nw, [H]), EPS);
    const routing = moeRoute(uRef, new CpuTensor(gate.values, [E, H]), new CpuTensor(bias, [E]), dims);
    const routed = moeExperts(uRef, routing, ups.map((w) => new CpuTensor(w.values, [I, H])), downs.map((w) => new CpuTensor(w.values, [H, I])));
    const shared = matmul(relu2(matmul(uRef, new CpuTensor(upS.values, [Is, H]))), new CpuTensor(downS.values, [H, Is]));
    const want = add(hRef, add(routed, shared));
    const yoGot = e.download(yo.ptr, new Float32Array(H));
    expect(relErr(yoGot, yoRef.data)).toBeLessThanOrEqual(1e-5);
    // the residual is h + the GEMV's own output, exactly (the reference's add of the same operands)
    expect(e.download(hn, new Float32Array(H))).toEqual(Float32Array.from(h, (v, i) => v + yoGot[i]));
    expect(Array.from(e.download(d!.args.ids, new Int32Array(K)))).toEqual(Array.from(routing.experts.data));
    expect(relErr(e.download(d!.args.wts, new Float32Array(K)), routing.weights.data)).toBeLessThanOrEqual(1e-5);
    expect(relErr(e.download(u.ptr, new Float32Array(H)), uRef.data)).toBeLessThanOrEqual(1e-5);
    expect(relErr(e.download(out, new Float32Array(H)), want.data)).toBeLessThanOrEqual(1e-5);
    for (const f of Object.values(files)) f.setFlags(0);
  });

  it('declines (launches nothing) when the norm does not read the GEMV output', () => {
    const e = files['route_fold.cu'];
    const launched: string[] = [];
    const c = ctx(launched, 1);
    const [H, Kin, E, I] = [64, 3080, 16, 32];
    const t = (shape: number[], dtype: 'f32' | 'bf16' = 'f32') => new CudaTensor(shape, dtype, e.alloc(shape.reduce((a, b) => a * b, 1) * 4), shape[shape.length - 1], -1, null);
    const g = { x: t([1, Kin]), w: t([H, Kin], 'bf16'), out: t([1, H]) };
    const norm = { a: t([1, H]).ptr, b: t([1, H]).ptr, h: t([1, H]).ptr, w: t([H]).ptr, eps: EPS, H, out: t([1, H]) };
    const ups = Array.from({ length: E }, () => t([I, H], 'bf16'));
    const downs = Array.from({ length: E }, () => t([H, I], 'bf16'));
    const dims = { experts: E, topK: 4, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 1 };
    expect(routeFoldLayer(c, g, norm, t([E, H], 'bf16'), t([E]), dims, ups, downs, t([64, H], 'bf16'), t([H, 64], 'bf16'))).toBeNull();
    expect(launched).toEqual([]);
  });
});
