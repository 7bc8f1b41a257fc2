import { expect, it } from 'vitest';
import type { RowSampling } from '../../src/backends/cuda/ops/sample.js';
import { randn } from '../ops/cases.js';
import { describeCuda, gpu } from './helpers.js';
import { expected, reference } from './sample-reference.js';

// GPU sampling against a float64 reference of the host sampler's filters (src/engine/sampling.ts: temperature ->
// top-k -> top-p -> min-p). The GPU draws in token-id order with the caller's uniform u, so for each u the
// expected token is the one whose interval of the id-ordered CDF over the kept tokens contains u.

const base: RowSampling = { temperature: 1, topK: 0, topP: 1, minP: 0, u: 0 };

describeCuda('GPU sampling (sample_rows) vs the host sampler semantics', () => {
  const settings: Array<[string, Partial<RowSampling>]> = [
    ['temperature 1, no filter', {}],
    ['temperature 0.7, top-k 50', { temperature: 0.7, topK: 50 }],
    ['temperature 1.3, top-p 0.8', { temperature: 1.3, topP: 0.8 }],
    ['temperature 0.8, top-k 200, top-p 0.9, min-p 0.02', { temperature: 0.8, topK: 200, topP: 0.9, minP: 0.02 }],
    ['temperature 0.5, min-p 0.1', { temperature: 0.5, minP: 0.1 }],
    ['temperature 0 (greedy)', { temperature: 0 }],
  ];
  it.each(settings)('%s: 1000 evenly spaced draws over 5000 logits follow the kept distribution', (_n, over) => {
    const g = gpu();
    g.beginStep();
    const V = 5000;
    const R = 1000;
    const logits = randn(7, V, 2);
    const s = { ...base, ...over };
    const ref = reference(logits, s);
    const x = new Float32Array(R * V);
    for (let r = 0; r < R; r++) x.set(logits, r * V);
    const rows = Array.from({ length: R }, (_, r) => ({ ...s, u: (r + 0.5) / R }));
    const got = g.sampleRows(g.fromFloat32(x, [R, V]), rows)!;
    let mismatches = 0;
    for (let r = 0; r < R; r++) {
      const e = expected(ref, rows[r].u);
      if (got[r] !== e.id) {
        expect(e.near, `row ${r}: u ${rows[r].u} drew ${got[r]}, expected ${e.id}`).toBe(true);
        mismatches++;
      }
    }
    expect(mismatches).toBeLessThanOrEqual(2);
    const kept = new Set(ref.ids);
    for (const t of got) expect(kept.has(t)).toBe(true);
    if (over.topK === 50) expect(ref.ids.length).toBe(50);
  });

  it('the real vocabulary (131072 logits): each draw is the id-ordered inverse CDF at its u', () => {
    const g = gpu();
    g.beginStep();
    const V = 131072;
    const logits = randn(8, V, 3);
    logits[77] = NaN; // never drawn
    logits[78] = -Infinity;
    const cases: RowSampling[] = [
      { ...base, temperature: 0.6, topP: 0.95, u: 0.3 },
      { ...base, temperature: 1, topK: 20, u: 0.999 },
      { ...base, temperature: 1.5, minP: 0.05, u: 0.0001 },
      { ...base, temperature: 0.9, topK: 1000, topP: 0.5, minP: 0.01, u: 0.61 },
    ];
    const x = new Float32Array(cases.length * V);
    cases.forEach((_, r) => x.set(logits, r * V));
    const got = g.sampleRows(g.fromFloat32(x, [cases.length, V]), cases)!;
    cases.forEach((s, r) => {
      const e = expected(reference(logits, s), s.u);
      if (!e.near) expect(got[r], `case ${r}`).toBe(e.id);
      expect(got[r]).not.toBe(77);
      expect(got[r]).not.toBe(78);
    });
  });

  it('ties at a threshold keep the lowest ids (top-k and top-p), as the stable host sort does', () => {
    const g = gpu();
    g.beginStep();
    const V = 1000;
    const R = 300;
    const flat = new Float32Array(R * V); // every logit equal
    const topk = g.sampleRows(g.fromFloat32(flat, [R, V]), Array.from({ length: R }, (_, r) => ({ ...base, topK: 3, u: (r + 0.5) / R })))!;
    const counts = [0, 0, 0];
    for (const t of topk) {
      expect(t).toBeLessThan(3);
      counts[t]++;
    }
    expect(counts).toEqual([100, 100, 100]);
    const topp = g.sampleRows(g.fromFloat32(flat.subarray(0, 10 * V), [10, V]), Array.from({ length: 10 }, (_, r) => ({ ...base, topP: 0.0045, u: (r + 0.5) / 10 })))!;
    for (const t of topp) expect(t).toBeLessThan(5); // 0.0045 of 1000 equal tokens: the 5 lowest ids
  });

  it('a row whose logits are all -inf draws 0; bad settings are refused before anything runs', () => {
    const g = gpu();
    g.beginStep();
    const V = 300;
    const x = g.fromFloat32(new Float32Array(V).fill(-Infinity), [1, V]);
    expect(Array.from(g.sampleRows(x, [{ ...base, u: 0.5 }])!)).toEqual([0]);
    expect(() => g.sampleRows(x, [{ ...base, u: 1 }])).toThrow(/uniform/);
    expect(() => g.sampleRows(x, [{ ...base, topP: 0 }])).toThrow(/top_p/);
    expect(() => g.sampleRows(x, [])).toThrow(/settings for 1 rows/);
    // a vocabulary longer than the kernel's mask: declined (the engine then samples on the host), nothing launched
    const big = g.fromFloat32(new Float32Array(262145), [1, 262145]);
    const launches = g.kernels.launches;
    expect(g.sampleRows(big, [base])).toBeNull();
    expect(g.kernels.launches).toBe(launches);
  });
});
