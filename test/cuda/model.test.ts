import { expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';
import { generate } from '../../src/engine/generate.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { FIXTURE_NAMES, fixtureDir, readGolden } from '../helpers/fixtures.js';
import { cuda, describeCuda, gpu } from './helpers.js';

// Whole-model parity of the CUDA backend on the golden fixtures: logits against the CPU reference (top-1
// identical, top-5 logprobs within 0.05), greedy continuations identical to the HF goldens, eagerly and through
// CUDA graphs. The default (precise) mode, float32-accurate activations in the cuBLAS GEMMs, is held to that bar.
// The bf16-activation mode (precise: false, as HF runs the model) only has to agree on the top-1 of at least 90% of
// the rows and wherever the reference's margin exceeds 0.5: on these tiny models (hidden size 48-64) bf16 rounding
// moves low top-5 logprobs by up to ~2.4 and flips top-1 choices with margins up to ~0.3 (measured on an H200).

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

function topK(row: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
}

describeCuda.each(FIXTURE_NAMES)('golden fixture on CUDA: %s', (name) => {
  const golden = readGolden(name);
  const cpu = cuda.ok ? loadModel(fixtureDir(name), new CpuRefBackend()).model : null;
  const prompts = Object.keys(golden.prompts);

  it.each(prompts.flatMap((p) => [[p, true], [p, false]] as const))('logits of prompt "%s" + continuation (precise %s)', (p, precise) => {
    const g = gpu({ precise });
    const model = loadModel(fixtureDir(name), g).model;
    const tokens = [...golden.prompts[p], ...golden.greedy[p].tokens];
    const want = cpu!.ops.toFloat32(cpu!.forward([{ tokens, state: cpu!.newState() }], true));
    const got = model.ops.toFloat32(model.forward([{ tokens, state: model.newState() }], true));
    const V = model.config.vocabSize;
    let worstLp = 0;
    let flips = 0;
    for (let r = 0; r < tokens.length; r++) {
      const w = want.subarray(r * V, (r + 1) * V);
      const gr = got.subarray(r * V, (r + 1) * V);
      expect(gr.every(Number.isFinite)).toBe(true);
      const lw = logSoftmax(w);
      const lg = logSoftmax(gr);
      const top = topK(w, 5);
      for (const i of top) worstLp = Math.max(worstLp, Math.abs(lw[i] - lg[i]));
      if (topK(gr, 1)[0] !== top[0]) {
        flips++;
        if (precise || w[top[0]] - w[top[1]] > 0.5) expect.fail(`row ${r}: top-1 ${topK(gr, 1)[0]} vs reference ${top[0]} (margin ${w[top[0]] - w[top[1]]})`);
      }
    }
    if (precise) expect(worstLp).toBeLessThanOrEqual(0.05);
    else {
      expect(flips / tokens.length).toBeLessThanOrEqual(0.1);
      console.warn(`[${name}/${p}] bf16-activation mode: worst top-5 logprob difference ${worstLp.toFixed(3)}, ${flips} top-1 flips in ${tokens.length} rows`);
    }
  });

  it.each(prompts)('greedy 64 tokens of "%s" equal the golden continuation (generate)', async (p) => {
    const g = gpu();
    const lm = loadModel(fixtureDir(name), g);
    const r = await generate(lm, golden.prompts[p], { maxTokens: 64, temperature: 0, stopTokenIds: [] });
    expect(r.tokens).toEqual(golden.greedy[p].tokens);
  });

  it('greedy 64 tokens through CUDA graphs equal the golden continuation (and, bf16 mode, where they diverge)', () => {
    for (const precise of [false, true]) {
      const g = gpu({ precise });
      const model = loadModel(fixtureDir(name), g).model;
      const graphs = new DecodeGraphs(g);
      for (const p of prompts) {
        const state = model.newState();
        let tok = g.argmaxRows(model.forward([{ tokens: golden.prompts[p], state }]))[0];
        const out = [tok];
        for (let i = 1; i < 64; i++) {
          tok = g.argmaxRows(graphs.run('decode-1', () => model.forward([{ tokens: [tok], state }])))[0];
          out.push(tok);
        }
        model.freeState(state);
        if (precise) expect(out, `prompt ${p}`).toEqual(golden.greedy[p].tokens);
        else {
          const same = out.findIndex((t, i) => t !== golden.greedy[p].tokens[i]);
          if (same >= 0) console.warn(`[${name}/${p}] bf16-activation mode graph decode diverges at token ${same}`);
        }
      }
      expect(graphs.stats.captured).toBe(1);
      expect(graphs.stats.replayed).toBeGreaterThan(100);
      graphs.clear();
    }
  });

  it('greedy 64 tokens through pipelined graph decoding (argmax and token feed on the device) equal the golden continuation', () => {
    const g = gpu();
    const model = loadModel(fixtureDir(name), g).model;
    const graphs = new DecodeGraphs(g);
    graphs.timeGpu = true;
    for (const p of prompts) {
      const state = model.newState();
      const first = g.argmaxRows(model.forward([{ tokens: golden.prompts[p], state }]));
      const fwd = () => model.forward([{ tokens: [0], state }]);
      // two calls: the second starts from the first's last token (eager warm-up and capture happen in the first)
      const a = graphs.decodeGreedy('d1', first, 20, fwd);
      const b = graphs.decodeGreedy('d1', a[a.length - 1], 43, fwd);
      const out = [first[0], ...a.map((t) => t[0]), ...b.map((t) => t[0])];
      expect(state.position).toBe(golden.prompts[p].length + 63);
      model.freeState(state);
      expect(out, `prompt ${p}`).toEqual(golden.greedy[p].tokens);
    }
    // at most one graph per unit size (1, 1, 2, 3, ... K steps): every step but those of the first (eager) and
    // second (captured) unit of each size replays
    const sizes = graphs.unitSizes();
    if (sizes.length === 1) {
      expect(graphs.stats.captured).toBe(1);
      expect(graphs.stats.replayed).toBe(prompts.length * 63 - 2);
    } else {
      expect(graphs.stats.captured).toBeLessThanOrEqual(sizes.length);
      expect(graphs.stats.replayed).toBeGreaterThanOrEqual(prompts.length * 63 - 2 * sizes.reduce((a, b) => a + b, 0));
    }
    expect(graphs.stats.timedReplays).toBe(graphs.stats.replayed);
    graphs.clear();
  });

  // K steps per graph; 250-token prompts: the KV caches (256 rows at first) grow during the replays (K 1), while
  // the second unit is captured (K 4) or while a unit is dry-run for its replay (K 4, 246 tokens)
  it.each([
    [1, 250],
    [4, 250],
    [4, 246],
  ])('pipelined graph decoding (%i steps per graph) across KV-cache growth equals step-by-step graph decoding (batch 2, prompts of %i)', (K, len) => {
    const g = gpu();
    const model = loadModel(fixtureDir(name), g).model;
    const graphs = new DecodeGraphs(g);
    const vocab = model.config.vocabSize;
    const prompt = (k: number) => Array.from({ length: len }, (_, i) => (i * 7919 + k * 104729 + 3) % vocab);
    const saved = process.env.NEMOTRON_CUDA_GRAPH_STEPS;
    process.env.NEMOTRON_CUDA_GRAPH_STEPS = String(K);
    const run = (pipelined: boolean): number[][] => {
      const states = [model.newState(), model.newState()];
      const first = g.argmaxRows(model.forward(states.map((state, k) => ({ tokens: prompt(k), state }))));
      const out: number[][] = [[...first]];
      if (pipelined) {
        const fwd = () => model.forward(states.map((state) => ({ tokens: [0], state })));
        for (const t of graphs.decodeGreedy('d2', first, 12, fwd)) out.push([...t]);
      } else {
        let toks = first;
        for (let i = 0; i < 12; i++) {
          toks = g.argmaxRows(graphs.run('d2-sync', () => model.forward(states.map((state, k) => ({ tokens: [toks[k]], state })))));
          out.push([...toks]);
        }
      }
      for (const s of states) model.freeState(s);
      return out;
    };
    try {
      expect(run(true)).toEqual(run(false));
    } finally {
      if (saved === undefined) delete process.env.NEMOTRON_CUDA_GRAPH_STEPS;
      else process.env.NEMOTRON_CUDA_GRAPH_STEPS = saved;
    }
    graphs.clear();
  });

  it('a batch of two sequences decodes like each alone (graphs, batch bucket 2)', () => {
    const g = gpu();
    const model = loadModel(fixtureDir(name), g).model;
    const graphs = new DecodeGraphs(g);
    const [pa, pb] = [prompts[0], prompts[prompts.length - 1]];
    const sa = model.newState();
    const sb = model.newState();
    let toks = g.argmaxRows(model.forward([{ tokens: golden.prompts[pa], state: sa }, { tokens: golden.prompts[pb], state: sb }]));
    const outA = [toks[0]];
    const outB = [toks[1]];
    for (let i = 1; i < 16; i++) {
      toks = g.argmaxRows(graphs.run('decode-2', () => model.forward([{ tokens: [toks[0]], state: sa }, { tokens: [toks[1]], state: sb }])));
      outA.push(toks[0]);
      outB.push(toks[1]);
    }
    expect(outA).toEqual(golden.greedy[pa].tokens.slice(0, 16));
    expect(outB).toEqual(golden.greedy[pb].tokens.slice(0, 16));
    graphs.clear();
  });
});
