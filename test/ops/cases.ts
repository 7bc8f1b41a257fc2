/**
 * Op parity cases shared by every backend's parity test: each case builds seeded random inputs on a backend,
 * runs one op and returns every output (including updated states) as host float32 arrays, so the same case
 * can run on the reference and on the backend under test. Shapes: small ones and the real Nano's.
 */
import type { Ops, Tensor } from '../../src/ops/ops.js';

export interface OpCase {
  name: string;
  op: string;
  run(ops: Ops<Tensor>): Float32Array[];
}

/** Deterministic normal-ish values (mulberry32 + sum of uniforms). */
export function randn(seed: number, n: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (u() + u() + u() + u() - 2) * 1.7320508 * scale;
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function mk(ops: Ops<Tensor>, seed: number, shape: number[], scale = 1): Tensor {
  return ops.fromFloat32(randn(seed, size(shape), scale), shape);
}

const segs = (lengths: number[]) => {
  let start = 0;
  return lengths.map((length) => {
    const s = { start, length };
    start += length;
    return s;
  });
};

export function opCases(opts: { real?: boolean } = {}): OpCase[] {
  const cases: OpCase[] = [];
  const H = opts.real ? 2688 : 64;
  cases.push({
    name: `embed H=${H}`, op: 'embed',
    run: (o) => [o.toFloat32(o.embed(mk(o, 1, [300, H]), Int32Array.from([0, 299, 17, 17])))],
  });
  for (const n of [1, 5]) {
    cases.push({ name: `rmsNorm N=${n} H=${H}`, op: 'rmsNorm', run: (o) => [o.toFloat32(o.rmsNorm(mk(o, 2, [n, H], 3), mk(o, 3, [H]), 1e-5))] });
  }
  const mm: Array<[number, number, number]> = opts.real ? [[1, 2688, 10304], [3, 4096, 2688], [1, 2688, 1856]] : [[1, 64, 200], [7, 33, 17], [16, 64, 64]];
  for (const [n, i, out] of mm) {
    cases.push({ name: `matmul [${n},${i}]x[${out},${i}]`, op: 'matmul', run: (o) => [o.toFloat32(o.matmul(mk(o, 4, [n, i]), mk(o, 5, [out, i], 1 / Math.sqrt(i))))] });
  }
  cases.push({ name: 'add / addBias / relu2 / gatherRows / splitCols', op: 'elementwise', run: (o) => {
    const a = mk(o, 6, [5, 12]);
    const b = mk(o, 7, [5, 12]);
    return [o.add(a, b), o.addBias(a, mk(o, 8, [12])), o.relu2(a), o.gatherRows(a, Int32Array.from([4, 0, 4])), ...o.splitCols(a, [3, 7, 2])].map((x) => o.toFloat32(x));
  } });

  // Mamba-2: real shapes are 64 heads x 64, state 128, 8 groups, conv 4 over 6144 channels
  const m = opts.real ? { heads: 64, p: 64, n: 128, g: 8, k: 4 } : { heads: 8, p: 8, n: 16, g: 2, k: 4 };
  const convDim = m.heads * m.p + 2 * m.g * m.n;
  for (const lengths of [[1], [6], [2, 9, 1]]) {
    const N = lengths.reduce((a, b) => a + b, 0);
    cases.push({ name: `mambaConv C=${convDim} segments ${lengths}`, op: 'mambaConv', run: (o) => {
      const states = lengths.map((_, s) => mk(o, 10 + s, [convDim, m.k - 1]));
      const y = o.mambaConv(mk(o, 9, [N, convDim]), mk(o, 13, [convDim, m.k], 0.5), mk(o, 14, [convDim], 0.2), segs(lengths), states);
      return [o.toFloat32(y), ...states.map((s) => o.toFloat32(s))];
    } });
    cases.push({ name: `ssmScan ${m.heads}x${m.p} n=${m.n} g=${m.g} segments ${lengths}`, op: 'ssmScan', run: (o) => {
      const states = lengths.map((_, s) => mk(o, 20 + s, [m.heads, m.p, m.n], 0.5));
      const dims = { heads: m.heads, headDim: m.p, stateSize: m.n, groups: m.g, dtMin: 0, dtMax: Infinity };
      const y = o.ssmScan(
        mk(o, 15, [N, m.heads * m.p]), mk(o, 16, [N, m.heads], 2), mk(o, 17, [N, m.g * m.n]), mk(o, 18, [N, m.g * m.n]),
        o.fromFloat32(Float32Array.from({ length: m.heads }, (_, h) => Math.log(1 + h % 16)), [m.heads]),
        mk(o, 19, [m.heads]), mk(o, 23, [m.heads], 0.5), dims, segs(lengths), states,
      );
      return [o.toFloat32(y), ...states.map((s) => o.toFloat32(s))];
    } });
  }
  const dInner = m.heads * m.p;
  cases.push({ name: `gatedRmsNorm ${dInner} in ${m.g} groups`, op: 'gatedRmsNorm', run: (o) => [o.toFloat32(o.gatedRmsNorm(mk(o, 24, [3, dInner]), mk(o, 25, [3, dInner], 2), mk(o, 26, [dInner]), dInner / m.g, 1e-5))] });

  const a = opts.real ? { heads: 32, kv: 2, hd: 128 } : { heads: 4, kv: 2, hd: 16 };
  cases.push({ name: `attention ${a.heads}q/${a.kv}kv x ${a.hd}: prefill, then decode over the cache`, op: 'attention', run: (o) => {
    const dims = { heads: a.heads, kvHeads: a.kv, headDim: a.hd };
    const caches = [o.newKvCache(dims), o.newKvCache(dims)];
    const lens = [7, 3];
    const N = 10;
    const y1 = o.attention(mk(o, 27, [N, a.heads * a.hd]), mk(o, 28, [N, a.kv * a.hd]), mk(o, 29, [N, a.kv * a.hd]), dims, segs(lens), caches);
    const y2 = o.attention(mk(o, 30, [2, a.heads * a.hd]), mk(o, 31, [2, a.kv * a.hd]), mk(o, 32, [2, a.kv * a.hd]), dims, segs([1, 1]), caches);
    return [o.toFloat32(y1), o.toFloat32(y2)];
  } });

  const e = opts.real ? { E: 128, k: 6, I: 1856 } : { E: 8, k: 2, I: 32 };
  cases.push({ name: `moeRoute + moeExperts E=${e.E} top-${e.k} I=${e.I}`, op: 'moe', run: (o) => {
    const x = mk(o, 33, [5, H]);
    const bias = o.fromFloat32(Float32Array.from(randn(34, e.E, 0.3), (v) => v + 8), [e.E]); // large offset, small spread (P4)
    const r = o.moeRoute(x, mk(o, 35, [e.E, H], 1 / Math.sqrt(H)), bias, { experts: e.E, topK: e.k, nGroup: 1, topkGroup: 1, normTopkProb: true, scale: 2.5 });
    const up = Array.from({ length: e.E }, (_, i) => mk(o, 100 + i, [e.I, H], 1 / Math.sqrt(H)));
    const down = Array.from({ length: e.E }, (_, i) => mk(o, 400 + i, [H, e.I], 1 / Math.sqrt(e.I)));
    return [o.toFloat32(r.experts), o.toFloat32(r.weights), o.toFloat32(o.moeExperts(x, r, up, down))];
  } });
  return cases;
}
