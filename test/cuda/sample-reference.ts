/**
 * Float64 reference of the host sampler's filters (src/engine/sampling.ts: temperature -> top-k -> top-p -> min-p)
 * for the GPU sampler's checks: the GPU test (sample.test.ts) and the CPU emulator's (dev/kernels/emu/).
 */
import type { RowSampling } from '../../src/backends/cuda/ops/sample.js';

/** Kept ids (ascending) and their probabilities, as sampling.ts computes them, in float64. */
export function reference(logits: Float32Array, s: RowSampling): { ids: number[]; probs: number[] } {
  let cand = Array.from(logits.keys()).filter((i) => logits[i] > -Infinity);
  cand.sort((a, b) => logits[b] - logits[a] || a - b);
  if (s.temperature === 0) return { ids: [cand[0]], probs: [1] };
  if (s.topK > 0 && s.topK < cand.length) cand = cand.slice(0, s.topK);
  const max = logits[cand[0]];
  let probs = cand.map((i) => Math.exp((logits[i] - max) / s.temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((v) => v / sum);
  if (s.topP < 1) {
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < s.topP) acc += probs[keep++];
    cand = cand.slice(0, Math.max(1, keep));
    probs = probs.slice(0, cand.length);
  }
  if (s.minP > 0) {
    const cut = s.minP * probs[0];
    const keep = probs.findIndex((v) => v < cut);
    if (keep > 0) {
      cand = cand.slice(0, keep);
      probs = probs.slice(0, keep);
    }
  }
  sum = probs.reduce((a, b) => a + b, 0);
  const order = cand.map((id, j) => [id, probs[j] / sum] as const).sort((a, b) => a[0] - b[0]);
  return { ids: order.map((o) => o[0]), probs: order.map((o) => o[1]) };
}

/** The id-ordered inverse CDF at u; `near` when u is within tol of an interval edge (float rounding may go either way). */
export function expected(ref: { ids: number[]; probs: number[] }, u: number, tol = 2e-5): { id: number; near: boolean } {
  let acc = 0;
  for (let j = 0; j < ref.ids.length; j++) {
    const next = acc + ref.probs[j];
    if (u < next || j === ref.ids.length - 1) return { id: ref.ids[j], near: Math.abs(u - acc) < tol || Math.abs(next - u) < tol };
    acc = next;
  }
  throw new Error('unreachable');
}
