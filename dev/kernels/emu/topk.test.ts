import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moeRoute } from '../../../src/backends/cpu/ref/moe.js';
import { t } from '../../../src/backends/cpu/ref/tensor.js';
import { randn } from '../../../test/ops/cases.js';
import { emuUnavailable } from './build.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// topk.cuh's warp top-k (through moe.cu's moe_topk, one warp per token) on the CPU emulator against cpu-ref's
// moeRoute given the same logits (x = the logits, gate = the identity, so the reference's logits are exact). Ties
// are planted across lanes and across a lane's experts (expert e sits in lane e % 32, slot e / 32): the lower id
// must win, as it does in the reference's stable sort; a row of equal logits must give experts 0..K-1.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

describe.skipIf(!!why)('topk_token (moe_topk) on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('moe.cu');
  });
  afterAll(() => e?.freeAll());

  it.each([
    { E: 128, K: 6, nGroup: 1, topkGroup: 1, norm: true, scale: 2.5 },
    { E: 256, K: 8, nGroup: 8, topkGroup: 4, norm: true, scale: 1 },
    { E: 40, K: 5, nGroup: 1, topkGroup: 1, norm: false, scale: 1.5 },
    { E: 64, K: 32, nGroup: 1, topkGroup: 1, norm: true, scale: 1 },
  ])('$E experts, top-$K, $nGroup groups (keep $topkGroup), renormalised $norm', ({ E, K, nGroup, topkGroup, norm, scale }) => {
    const N = 6;
    const logits = randn(7, N * E);
    const bias = randn(8, E).map((v) => 0.3 * v); // some biased scores below zero
    const plant = (r: number, es: number[], v: number) => es.forEach((x) => x < E && (logits[r * E + x] = v));
    logits.fill(0.25, 0, E); // row 0: every logit equal
    bias.fill(0); // equal scores stay equal
    plant(1, [33, 1, 65, 97, 2], 9); // ties across lanes and slots of lane 1: 1, 2, 33, 65, 97
    plant(2, [E - 1, 31, 63], 7); // ties in the last lane
    plant(3, [5, 37], -9); // ties at the bottom (not chosen) beside random values
    const ids = e.alloc(N * K * 4);
    const wts = e.alloc(N * K * 4);
    e.setFlags(EMU_FLAGS.reverseThreads);
    e.launch('moe_topk', Math.ceil(N / 4), 128, [e.upload(logits), e.upload(bias), ids, wts, N, E, K, nGroup, topkGroup, norm ? 1 : 0, scale]);
    const eye = new Float32Array(E * E);
    for (let i = 0; i < E; i++) eye[i * E + i] = 1;
    const ref = moeRoute(t(logits, [N, E]), t(eye, [E, E]), t(bias, [E]), { experts: E, topK: K, nGroup, topkGroup, normTopkProb: norm, scale });
    const gotIds = e.download(ids, new Int32Array(N * K));
    expect(Array.from(gotIds)).toEqual(Array.from(ref.experts.data));
    expect(Array.from(gotIds.subarray(0, K))).toEqual(Array.from({ length: K }, (_, k) => k)); // the plant took
    const tied = [1, 2, 33, 65, 97].filter((x) => x < E).slice(0, K);
    if (nGroup === 1) expect(Array.from(gotIds.subarray(K, K + tied.length))).toEqual(tied);
    const gotW = e.download(wts, new Float32Array(N * K));
    gotW.forEach((w, i) => expect(Math.abs(w - ref.weights.data[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref.weights.data[i]))));
  });
});
