import { describe, expect, it } from 'vitest';
import { drawFiltered, Sampler } from '../../src/engine/sampling.js';
import { Rng } from '../../src/engine/rng.js';

const logits = Float32Array.from([2.0, 1.0, 0.5, -1.0, 3.0]); // softmax order: 4, 0, 1, 2, 3
const softmax = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const histogram = (s: Sampler, n: number) => {
  const h = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) h[s.sample(logits)]++;
  return h.map((c) => c / n);
};

describe('Sampler', () => {
  it('temperature 0 is argmax', () => {
    expect(new Sampler({ temperature: 0 }).sample(logits)).toBe(4);
  });

  it('temperature 1 follows the softmax distribution', () => {
    const h = histogram(new Sampler({ temperature: 1, seed: 1 }), 40000);
    softmax(Array.from(logits)).forEach((p, i) => expect(Math.abs(h[i] - p)).toBeLessThan(0.01));
  });

  it('top-k keeps only the k best tokens', () => {
    const h = histogram(new Sampler({ temperature: 1, topK: 2, seed: 2 }), 5000);
    expect(h[1] + h[2] + h[3]).toBe(0);
    const p = softmax([3.0, 2.0]);
    expect(Math.abs(h[4] - p[0])).toBeLessThan(0.02);
  });

  it('top-p keeps the smallest prefix reaching p', () => {
    const probs = softmax(Array.from(logits)); // p(4)=0.61, p(0)=0.22 -> 0.83
    expect(probs[4]).toBeLessThan(0.7);
    const h = histogram(new Sampler({ temperature: 1, topP: 0.7, seed: 3 }), 5000);
    expect(h[1] + h[2] + h[3]).toBe(0);
    expect(h[0]).toBeGreaterThan(0);
  });

  it('min-p drops tokens below min_p * p_max', () => {
    const probs = softmax(Array.from(logits));
    const minP = (probs[1] / probs[4]) * 1.01; // token 1 just below the cut, token 0 above
    const h = histogram(new Sampler({ temperature: 1, minP, seed: 4 }), 5000);
    expect(h[1] + h[2] + h[3]).toBe(0);
    expect(h[0]).toBeGreaterThan(0);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    // token 4 (3.0) seen with penalty 2 -> 1.5 < 2.0, so greedy picks 0
    expect(new Sampler({ temperature: 0, repetitionPenalty: 2 }, [4]).sample(logits)).toBe(0);
    // a generated token counts as seen too
    const s = new Sampler({ temperature: 0, repetitionPenalty: 10 });
    expect(s.sample(logits)).toBe(4);
    expect(s.sample(logits)).toBe(0);
  });

  it('presence and frequency penalties subtract from generated tokens only (OpenAI semantics)', () => {
    // prompt tokens do not count: token 4 in the prompt, still picked
    expect(new Sampler({ temperature: 0, presencePenalty: 2 }, [4]).sample(logits)).toBe(4);
    // after generating 4 once: 3.0 - 1.5 = 1.5 < 2.0 -> token 0
    const s = new Sampler({ temperature: 0, presencePenalty: 1.5 });
    expect([s.sample(logits), s.sample(logits)]).toEqual([4, 0]);
    // frequency grows with the count: 3.0 - 0.4 n vs 2.0 - 0.4 m
    const f = new Sampler({ temperature: 0, frequencyPenalty: 0.4 });
    expect(Array.from({ length: 6 }, () => f.sample(logits))).toEqual([4, 4, 4, 0, 4, 0]);
    expect(() => new Sampler({ presencePenalty: 3 })).toThrow(/presence_penalty/);
  });

  it('is reproducible for a seed', () => {
    const a = new Sampler({ temperature: 1, seed: 42 });
    const b = new Sampler({ temperature: 1, seed: 42 });
    const xs = Array.from({ length: 50 }, () => a.sample(logits));
    expect(Array.from({ length: 50 }, () => b.sample(logits))).toEqual(xs);
  });

  it('rejects invalid parameters', () => {
    expect(() => new Sampler({ topK: 1.5 })).toThrow(/top_k/);
    expect(() => new Sampler({ minP: 2 })).toThrow(/min_p/);
    expect(() => new Sampler({ repetitionPenalty: 0 })).toThrow(/repetition_penalty/);
    expect(() => new Sampler({ seed: 0.5 })).toThrow(/seed/);
  });
});

describe('drawFiltered (selection instead of sorting) equals the sorted walk', () => {
  /** The sampler's semantics as a plain sort-and-walk: the reference the selection-based version must match. */
  function sortedWalk(logits: Float64Array, T: number, topK: number, topP: number, minP: number, u: number): number {
    let cand = Array.from(logits.keys()).filter((i) => logits[i] > -Infinity);
    cand.sort((a, b) => logits[b] - logits[a] || a - b);
    if (topK > 0 && topK < cand.length) cand = cand.slice(0, topK);
    const max = logits[cand[0]];
    let probs = cand.map((i) => Math.exp((logits[i] - max) / T));
    const z = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((v) => v / z);
    if (topP < 1) {
      let acc = 0;
      let keep = 0;
      while (keep < probs.length && acc < topP) acc += probs[keep++];
      cand = cand.slice(0, Math.max(1, keep));
      probs = probs.slice(0, cand.length);
    }
    if (minP > 0) {
      const keep = probs.findIndex((v) => v < minP * probs[0]);
      if (keep > 0) {
        cand = cand.slice(0, keep);
        probs = probs.slice(0, keep);
      }
    }
    let t = u * probs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < cand.length; i++) if ((t -= probs[i]) < 0) return cand[i];
    return cand[cand.length - 1];
  }

  it('2,400 draws over random logits (with ties, -inf and NaN) and settings pick the same tokens', () => {
    const rng = new Rng(99);
    let checked = 0;
    for (let trial = 0; trial < 120; trial++) {
      const V = 1 + Math.floor(rng.next() * 3000);
      const logits = Float64Array.from({ length: V }, () => Math.round((rng.next() * 2 - 1) * 6 * 8) / 8); // coarse: many ties
      if (V > 10) {
        logits[3] = -Infinity;
        logits[7] = NaN;
      }
      const T = 0.3 + rng.next() * 1.5;
      const topK = rng.next() < 0.5 ? 0 : 1 + Math.floor(rng.next() * 60);
      const topP = rng.next() < 0.4 ? 1 : 0.05 + rng.next() * 0.94;
      const minP = rng.next() < 0.5 ? 0 : rng.next() * 0.3;
      for (let d = 0; d < 20; d++) {
        const u = rng.next();
        const want = sortedWalk(logits, T, topK, topP, minP, u);
        expect(drawFiltered(logits, T, topK, topP, minP, u), `trial ${trial} draw ${d}`).toBe(want);
        checked++;
      }
    }
    expect(checked).toBe(2400);
  });

  it('all logits -inf or NaN: the argmax rule, no throw', () => {
    expect(drawFiltered(Float64Array.from([-Infinity, NaN, -Infinity]), 1, 0, 1, 0, 0.5)).toBe(0);
  });
});
