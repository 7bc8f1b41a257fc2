import { expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';
import type { Ops, Segment, SsmDims, Tensor } from '../../src/ops/ops.js';
import { randn } from '../ops/cases.js';
import { describeCuda, expectPerHead, gpu, launched, relErr } from './helpers.js';

// The selective scan (ssm_scan_n128 prefill, ssm_step_n128 decode, ssm_scan for other shapes) against the exact
// recurrence of cpu-ref on random inputs laid out as the model has them: x, B, C column views of one xBC row, dt a
// column view of a wider row. States start non-zero; y and every final state are compared. Outputs are poisoned
// with NaN by gpu(), and relErr is Infinity on a NaN, so an element a kernel fails to write fails the test.
const ref = new CpuRefBackend() as unknown as Ops<Tensor>;

interface Shape { heads: number; p: number; n: number; g: number }
const NANO: Shape = { heads: 64, p: 64, n: 128, g: 8 };

const segs = (lengths: number[]): Segment[] => {
  let start = 0;
  return lengths.map((length) => ({ start: (start += length) - length, length }));
};
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

function expectClose(got: Float32Array, want: Float32Array, what: string, tol = 1e-3): void {
  expect(got.length, what).toBe(want.length);
  const e = relErr(got, want);
  expect(e, `${what}: relative error ${e}`).toBeLessThanOrEqual(tol);
}


/**
 * Per-head parameters with both regimes: even heads decay slowly (A near -0.05, dt near 0.05: a state remembers
 * hundreds of tokens), odd heads fast (A down to -16, dt up to ~5).
 */
function params(sh: Shape, seed: number) {
  const aLog = Float32Array.from({ length: sh.heads }, (_, h) => Math.log(h % 2 === 0 ? 0.02 * (1 + (h % 5)) : 1 + (h % 16)));
  const r = randn(seed, sh.heads, 0.5);
  const dtBias = Float32Array.from(r, (v, h) => (h % 2 === 0 ? v - 3 : v));
  const d = randn(seed + 1, sh.heads);
  return { aLog, dtBias, d };
}

/** A pair of tensors with the same values: cpu-ref and CUDA. */
interface Pair { cpu: Tensor; gpu: Tensor }

class Scan {
  readonly dims: SsmDims;
  readonly aLog: Pair;
  readonly dtBias: Pair;
  readonly d: Pair;
  states: Pair[] = [];

  constructor(readonly g: CudaBackend, readonly sh: Shape, seed: number, dtLimit: [number, number] = [0, Infinity]) {
    this.dims = { heads: sh.heads, headDim: sh.p, stateSize: sh.n, groups: sh.g, dtMin: dtLimit[0], dtMax: dtLimit[1] };
    const p = params(sh, seed);
    this.aLog = this.pair(p.aLog, [sh.heads]);
    this.dtBias = this.pair(p.dtBias, [sh.heads]);
    this.d = this.pair(p.d, [sh.heads]);
  }

  get G(): Ops<Tensor> {
    return this.g as unknown as Ops<Tensor>;
  }

  pair(v: Float32Array, shape: number[]): Pair {
    return { cpu: ref.fromFloat32(v.slice(), shape), gpu: this.G.fromFloat32(v, shape) };
  }

  /** `count` random states (scale 0.5) on both sides. */
  newStates(count: number, seed: number): void {
    const { heads, p, n } = this.sh;
    this.states = Array.from({ length: count }, (_, s) => this.pair(randn(seed + s, heads * p * n, 0.5), [heads, p, n]));
  }

  /**
   * One ssmScan call over `lengths` on both backends; x, B, C are views of one row of `xoff` + heads p + 2 g n
   * columns (xoff = 1: x is not 16-byte aligned), dt a view of a row of heads + 5. Returns the kernels launched.
   */
  step(lengths: number[], seed: number, xoff = 0): string[] {
    const { heads, p, n, g } = this.sh;
    const N = sum(lengths);
    const xw = heads * p;
    const gw = g * n;
    const gap = xoff ? 3 : 0; // x misaligned by xoff floats; B and C (and the row stride) stay 16-byte aligned
    const width = xoff + xw + gap + 2 * gw;
    const row = randn(seed, N * width);
    const dtRow = randn(seed + 1, N * (heads + 5), 2);
    const widths = xoff ? [xoff, xw, gap, gw, gw] : [xw, gw, gw];
    const run = (o: Ops<Tensor>, side: 'cpu' | 'gpu') => {
      const rowT = o.fromFloat32(row, [N, width]);
      const dtT = o.fromFloat32(dtRow, [N, heads + 5]);
      const parts = o.splitCols(rowT, widths);
      const [x, B, C] = xoff ? [parts[1], parts[3], parts[4]] : parts;
      const dt = o.splitCols(dtT, [3, heads, 2])[1];
      const y = o.toFloat32(o.ssmScan(x, dt, B, C, this.aLog[side], this.d[side], this.dtBias[side], this.dims, segs(lengths), this.states.map((s) => s[side])));
      o.release(rowT);
      o.release(dtT);
      return y;
    };
    const want = run(ref, 'cpu');
    this.g.beginStep();
    const { r: got, names } = launched(this.g, () => run(this.G, 'gpu'));
    expectPerHead(got, want, heads, heads * p, `y, segments ${lengths}`, 1e-3);
    this.expectStates(`segments ${lengths}`);
    return names.filter((k) => k.startsWith('ssm_'));
  }

  expectStates(what: string): void {
    const { heads, p, n } = this.sh;
    this.states.forEach((s, i) => expectPerHead(this.G.toFloat32(s.gpu), ref.toFloat32(s.cpu), heads, heads * p * n, `state ${i} after ${what}`, 1e-3));
  }
}

describeCuda('ssmScan: cuda vs the exact recurrence of cpu-ref', () => {
  it('Nano shape: 1024-token prefill from a random state, then decode steps from the state it left', () => {
    const s = new Scan(gpu(), NANO, 1);
    s.newStates(1, 10);
    expect(s.step([1024], 100)).toEqual(['ssm_scan_n128']);
    for (let i = 0; i < 3; i++) expect(s.step([1], 200 + i)).toEqual(['ssm_step_n128']);
    // chunked prefill: another 45 tokens (not a multiple of the 16-token chunk) continuing the same sequence
    expect(s.step([45], 300)).toEqual(['ssm_scan_n128']);
  });

  it('Nano shape: packed segments of different lengths (1, multiples of 16 and not), twice (continuing)', () => {
    const s = new Scan(gpu(), NANO, 2);
    s.newStates(6, 20);
    expect(s.step([37, 1, 16, 100, 5, 64], 400)).toEqual(['ssm_scan_n128']);
    expect(s.step([3, 17, 1, 1, 32, 2], 410)).toEqual(['ssm_scan_n128']);
  });

  it('Nano shape: decode of 4 sequences, with a dt clamp', () => {
    const s = new Scan(gpu(), NANO, 3, [0.001, 0.1]);
    s.newStates(4, 30);
    for (let i = 0; i < 2; i++) expect(s.step([1, 1, 1, 1], 500 + i)).toEqual(['ssm_step_n128']);
    expect(s.step([7, 1, 20, 2], 510)).toEqual(['ssm_scan_n128']); // clamped dt in the prefill kernel too
  });

  it('Nano shape: x not 16-byte aligned takes the general kernel for prefill (decode only needs B, C aligned)', () => {
    const s = new Scan(gpu(), { heads: 8, p: 64, n: 128, g: 2 }, 4);
    s.newStates(2, 40);
    expect(s.step([20, 9], 600, 1)).toEqual(['ssm_scan']);
    expect(s.step([1, 1], 610, 1)).toEqual(['ssm_step_n128']);
  });

  it.each([
    [{ heads: 8, p: 8, n: 16, g: 2 }, 'ssm_scan', 'ssm_scan'], // hf5-fused, hub-sharded fixtures
    [{ heads: 8, p: 6, n: 8, g: 4 }, 'ssm_scan', 'ssm_scan'], // legacy-f16 fixture
    [{ heads: 4, p: 20, n: 128, g: 2 }, 'ssm_scan', 'ssm_step_n128'], // p % 32 != 0; decode rows past p idle
    [{ heads: 4, p: 32, n: 128, g: 1 }, 'ssm_scan_n128', 'ssm_step_n128'],
  ])('small shape %o: prefill (%s) then decode (%s)', (sh, prefill, decode) => {
    const s = new Scan(gpu(), sh, 5, [0.001, 0.1]);
    s.newStates(3, 50);
    expect(s.step([5, 1, 20], 700)).toEqual([prefill]);
    expect(s.step([1, 1, 1], 710)).toEqual([decode]);
    expect(s.step([33, 2, 1], 720)).toEqual([prefill]);
  });

  it('Nano shape: decode of 2 sequences through a CUDA graph (eager, capture, replays) with new inputs each step', () => {
    const g = gpu();
    const s = new Scan(g, NANO, 6);
    s.newStates(2, 60);
    const { heads, p, n, g: groups } = NANO;
    const xw = heads * p;
    const gw = groups * n;
    const width = xw + 2 * gw;
    // the graph has the input addresses: persistent tensors whose contents change between steps
    const rowG = g.fromFloat32(new Float32Array(2 * width), [2, width]);
    const dtG = g.fromFloat32(new Float32Array(2 * heads), [2, heads]);
    const graphs = new DecodeGraphs(g);
    const G = s.G;
    try {
      for (let i = 0; i < 5; i++) {
        const row = randn(800 + i, 2 * width);
        const dtv = randn(900 + i, 2 * heads, 2);
        const [x, B, C] = ref.splitCols(ref.fromFloat32(row, [2, width]), [xw, gw, gw]);
        const want = ref.toFloat32(ref.ssmScan(x, ref.fromFloat32(dtv, [2, heads]), B, C, s.aLog.cpu, s.d.cpu, s.dtBias.cpu, s.dims, segs([1, 1]), s.states.map((t) => t.cpu)));
        g.dev.upload(rowG.ptr, row);
        g.dev.upload(dtG.ptr, dtv);
        const y = graphs.run('ssm decode 2', () => {
          g.beginStep();
          const [xg, Bg, Cg] = G.splitCols(rowG as unknown as Tensor, [xw, gw, gw]);
          return G.ssmScan(xg, dtG as unknown as Tensor, Bg, Cg, s.aLog.gpu, s.d.gpu, s.dtBias.gpu, s.dims, segs([1, 1]), s.states.map((t) => t.gpu));
        });
        expectPerHead(G.toFloat32(y), want, heads, heads * p, `y, step ${i}`, 1e-3);
        s.expectStates(`step ${i}`);
      }
      expect(graphs.stats).toMatchObject({ eager: 1, captured: 1, replayed: 3 });
    } finally {
      graphs.clear();
      g.release(rowG);
      g.release(dtG);
    }
  });
});

describeCuda('gatedRmsNorm at the Nano width (one float4 per thread)', () => {
  it.each([1, 3])('%i rows, z a column view as in the model', (rows) => {
    const g = gpu();
    g.beginStep();
    const G = g as unknown as Ops<Tensor>;
    const width = 4096;
    const yv = randn(1000 + rows, rows * width);
    const zRow = randn(1100 + rows, rows * (width + 72), 2);
    const wv = randn(1200, width);
    const run = (o: Ops<Tensor>) => {
      const z = o.splitCols(o.fromFloat32(zRow, [rows, width + 72]), [width, 72])[0];
      return o.toFloat32(o.gatedRmsNorm(o.fromFloat32(yv, [rows, width]), z, o.fromFloat32(wv, [width]), 512, 1e-5));
    };
    const want = run(ref);
    const { r: got, names } = launched(g, () => run(G));
    expect(names).toContain('gated_rms_norm_v4');
    expectClose(got, want, 'gated norm', 1e-4);
  });
});
