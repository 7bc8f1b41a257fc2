import { describe, expect, it } from 'vitest';
import { Sampler } from '../../src/engine/sampling.js';

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
