import { expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';
import type { MambaMixerParams, MambaState, Ops, Segment, SsmDims, Tensor } from '../../src/ops/ops.js';
import { randn } from '../ops/cases.js';
import { describeCuda, expectPerHead, gpu, launched, relErr, toBf16 } from './helpers.js';

// The fused Mamba-2 decode step (Ops.mambaMixer -> kernels/mamba_step.cu) against the composition the model falls
// back to (mambaConv -> ssmScan -> gatedRmsNorm), run both on the CUDA backend (separate state copies) and on
// cpu-ref: the output and every sequence's conv and ssm states, over consecutive steps (the second step needs the
// per-(row, group) tickets the first reset, and starts from the states it wrote). Outputs are poisoned with NaN by
// gpu(), and relErr is Infinity on a NaN, so an element the kernel fails to write fails the test.
const ref = new CpuRefBackend() as unknown as Ops<Tensor>;

interface Shape { heads: number; P: number; groups: number; K: number }
const NANO: Shape = { heads: 64, P: 64, groups: 8, K: 4 };
const n = 128;

const decode = (N: number): Segment[] => Array.from({ length: N }, (_, i) => ({ start: i, length: 1 }));

/** The model's mambaCore: conv -> scan -> gated norm as separate ops. */
function composition(o: Ops<Tensor>, proj: Tensor, p: MambaMixerParams<Tensor>, segments: Segment[], states: MambaState<Tensor>[]): Tensor {
  const gn = p.dims.groups * p.dims.stateSize;
  const [z, xBC, dt] = o.splitCols(proj, [p.dInner, p.convDim, p.dims.heads]);
  const conv = o.mambaConv(xBC, p.convW, p.convB, segments, states.map((s) => s.conv));
  const [x, B, C] = o.splitCols(conv, [p.dInner, gn, gn]);
  const y = o.ssmScan(x, dt, B, C, p.aLog, p.d, p.dtBias, p.dims, segments, states.map((s) => s.ssm));
  return o.gatedRmsNorm(y, z, p.normW, p.normGroupSize, p.eps);
}


/**
 * One Mamba mixer's weights on cpu-ref and CUDA, and `rows` sequences' states three times: cpu-ref, the fused
 * path's and the composition's (CUDA). bf16: convW and normW are bf16 on the device (the op takes float32 copies
 * through c.f32) and their bf16-rounded values on the CPU. Heads alternate slow (A near -0.05) and fast decay.
 */
class Mixer {
  readonly cpu: MambaMixerParams<Tensor>;
  readonly gpu: MambaMixerParams<Tensor>;
  readonly width: number;
  states: { cpu: MambaState<Tensor>; fused: MambaState<Tensor>; split: MambaState<Tensor> }[] = [];

  constructor(readonly g: CudaBackend, readonly sh: Shape, opts: { bias: boolean; bf16: boolean; dtLimit?: [number, number] }) {
    const { heads, P, groups, K } = sh;
    const dInner = heads * P;
    const convDim = dInner + 2 * groups * n;
    this.width = dInner + convDim + heads;
    const dims: SsmDims = { heads, headDim: P, stateSize: n, groups, dtMin: opts.dtLimit?.[0] ?? 0, dtMax: opts.dtLimit?.[1] ?? Infinity };
    const vals = {
      convW: randn(1, convDim * K, 0.5),
      convB: opts.bias ? randn(2, convDim, 0.3) : null,
      aLog: Float32Array.from({ length: heads }, (_, h) => Math.log(h % 2 === 0 ? 0.02 * (1 + (h % 5)) : 1 + (h % 16))),
      d: randn(3, heads),
      dtBias: Float32Array.from(randn(4, heads, 0.5), (v, h) => (h % 2 === 0 ? v - 3 : v)),
      normW: Float32Array.from(randn(5, dInner, 0.2), (v) => v + 1),
    };
    const f32 = (v: Float32Array, shape: number[]) => ({ cpu: ref.fromFloat32(v.slice(), shape), gpu: this.G.fromFloat32(v, shape) as Tensor });
    const weight = (v: Float32Array, shape: number[]) => {
      if (!opts.bf16) return f32(v, shape);
      const { values, bytes } = toBf16(v);
      const t = g.persistent(shape, 'bf16');
      g.dev.upload(t.ptr, bytes);
      return { cpu: ref.fromFloat32(values, shape), gpu: t as unknown as Tensor };
    };
    const w = {
      convW: weight(vals.convW, [convDim, K]),
      convB: vals.convB ? f32(vals.convB, [convDim]) : null,
      aLog: f32(vals.aLog, [heads]),
      d: f32(vals.d, [heads]),
      dtBias: f32(vals.dtBias, [heads]),
      normW: weight(vals.normW, [dInner]),
    };
    const side = (s: 'cpu' | 'gpu'): MambaMixerParams<Tensor> => ({
      dims, dInner, convDim, convW: w.convW[s], convB: w.convB?.[s] ?? null, aLog: w.aLog[s], d: w.d[s], dtBias: w.dtBias[s],
      normW: w.normW[s], normGroupSize: dInner / groups, eps: 1e-5,
    });
    this.cpu = side('cpu');
    this.gpu = side('gpu');
  }

  get G(): Ops<Tensor> {
    return this.g as unknown as Ops<Tensor>;
  }

  /** `rows` random non-zero states, the same on all three sides. */
  newStates(rows: number, seed: number): void {
    const { heads, P, K } = this.sh;
    const convShape = [this.cpu.convDim, K - 1];
    const ssmShape = [heads, P, n];
    this.states = Array.from({ length: rows }, (_, r) => {
      const conv = randn(seed + 2 * r, this.cpu.convDim * (K - 1));
      const ssm = randn(seed + 2 * r + 1, heads * P * n, 0.5);
      const make = (o: Ops<Tensor>): MambaState<Tensor> => ({ conv: o.fromFloat32(conv, convShape), ssm: o.fromFloat32(ssm, ssmShape) });
      return { cpu: make(ref), fused: make(this.G), split: make(this.G) };
    });
  }

  /** A random proj [rows, width]: z, xBC, then dt (raw, scale 2: both softplus regimes). */
  proj(rows: number, seed: number): Float32Array {
    const v = randn(seed, rows * this.width);
    const dt = randn(seed + 1, rows * this.sh.heads, 2);
    const off = this.cpu.dInner + this.cpu.convDim;
    for (let r = 0; r < rows; r++) v.set(dt.subarray(r * this.sh.heads, (r + 1) * this.sh.heads), r * this.width + off);
    return v;
  }

  /** Compares the fused output and states with the composition's (CUDA) and cpu-ref's. */
  expectMatches(fused: Float32Array, split: Float32Array, want: Float32Array, what: string): void {
    const { heads, P } = this.sh;
    expect(relErr(fused, split), `${what}: output vs the CUDA composition`).toBeLessThanOrEqual(1e-4);
    expect(relErr(fused, want), `${what}: output vs cpu-ref`).toBeLessThanOrEqual(1e-4);
    this.states.forEach((s, r) => {
      const conv = this.G.toFloat32(s.fused.conv);
      expect(conv, `${what}: conv state ${r} vs the CUDA composition`).toEqual(this.G.toFloat32(s.split.conv)); // a shift: exact
      expect(conv, `${what}: conv state ${r} vs cpu-ref`).toEqual(ref.toFloat32(s.cpu.conv));
      const ssm = this.G.toFloat32(s.fused.ssm);
      expectPerHead(ssm, this.G.toFloat32(s.split.ssm), heads, heads * P * n, `${what}: ssm state ${r} vs the CUDA composition`, 1e-4);
      expectPerHead(ssm, ref.toFloat32(s.cpu.ssm), heads, heads * P * n, `${what}: ssm state ${r} vs cpu-ref`, 1e-4);
    });
  }

  /** One decode step of `rows` sequences on all three sides; returns the kernels the fused call launched. */
  step(seed: number): string[] {
    const rows = this.states.length;
    const segments = decode(rows);
    const proj = this.proj(rows, seed);
    const want = ref.toFloat32(composition(ref, ref.fromFloat32(proj, [rows, this.width]), this.cpu, segments, this.states.map((s) => s.cpu)));
    this.g.beginStep();
    const projG = this.G.fromFloat32(proj, [rows, this.width]);
    try {
      const { r: out, names } = launched(this.g, () => this.G.mambaMixer!(projG, this.gpu, segments, this.states.map((s) => s.fused)));
      expect(out, 'the fused step applies').not.toBeNull();
      const fused = this.G.toFloat32(out!);
      const split = this.G.toFloat32(composition(this.G, projG, this.gpu, segments, this.states.map((s) => s.split)));
      this.expectMatches(fused, split, want, `${rows} rows, seed ${seed}`);
      return names;
    } finally {
      this.G.release(projG);
    }
  }
}

describeCuda('mambaMixer (fused decode step): cuda vs the CUDA composition and cpu-ref', () => {
  it.each([
    [1, true, false],
    [4, false, false],
    [4, true, true],
  ])('Nano shape, %i rows, conv bias %s, bf16 convW / normW %s: three consecutive steps', (rows, bias, bf16) => {
    const m = new Mixer(gpu(), NANO, { bias, bf16 });
    m.newStates(rows, 10);
    for (let i = 0; i < 3; i++) {
      const names = m.step(100 + 10 * i);
      // the bf16 weights' float32 copies are made on the first call only
      expect(names.filter((k) => k !== 'bf16_to_f32'), `step ${i}`).toEqual(['mamba_step']);
      if (i > 0) expect(names, `step ${i}`).toEqual(['mamba_step']);
    }
  });

  it('Nano shape, 2 rows, with a dt clamp', () => {
    const m = new Mixer(gpu(), NANO, { bias: true, bf16: false, dtLimit: [0.001, 0.1] });
    m.newStates(2, 20);
    for (let i = 0; i < 2; i++) expect(m.step(200 + 10 * i)).toEqual(['mamba_step']);
  });

  it('declines prefill and mixed steps (null, nothing launched)', () => {
    const g = gpu();
    const m = new Mixer(g, NANO, { bias: true, bf16: false });
    m.newStates(2, 30);
    g.beginStep();
    const proj = m.G.fromFloat32(m.proj(3, 300), [3, m.width]);
    try {
      const fused = m.states.map((s) => s.fused);
      const { r, names } = launched(g, () => [
        m.G.mambaMixer!(proj, m.gpu, [{ start: 0, length: 3 }], fused.slice(0, 1)),
        m.G.mambaMixer!(proj, m.gpu, [{ start: 0, length: 2 }, { start: 2, length: 1 }], fused),
      ]);
      expect(r).toEqual([null, null]);
      expect(names).toEqual([]);
    } finally {
      m.G.release(proj);
    }
  });

  it('Nano shape, 2 rows through a CUDA graph (eager, capture, replays): the tickets reset on every replay', () => {
    const g = gpu();
    const m = new Mixer(g, NANO, { bias: true, bf16: false });
    const rows = 2;
    m.newStates(rows, 40);
    const segments = decode(rows);
    const projG = g.fromFloat32(new Float32Array(rows * m.width), [rows, m.width]); // the graph has its address
    const graphs = new DecodeGraphs(g);
    try {
      for (let i = 0; i < 5; i++) {
        const proj = m.proj(rows, 500 + 10 * i);
        const want = ref.toFloat32(composition(ref, ref.fromFloat32(proj, [rows, m.width]), m.cpu, segments, m.states.map((s) => s.cpu)));
        g.dev.upload(projG.ptr, proj);
        const out = graphs.run('mamba step 2', () => {
          g.beginStep();
          return m.G.mambaMixer!(projG as unknown as Tensor, m.gpu, segments, m.states.map((s) => s.fused));
        });
        expect(out, `step ${i}`).not.toBeNull();
        const fused = m.G.toFloat32(out!);
        g.beginStep();
        const split = m.G.toFloat32(composition(m.G, projG as unknown as Tensor, m.gpu, segments, m.states.map((s) => s.split)));
        m.expectMatches(fused, split, want, `graph step ${i}`);
      }
      expect(graphs.stats).toMatchObject({ eager: 1, captured: 1, replayed: 3 });
    } finally {
      graphs.clear();
      g.release(projG);
    }
  });
});
