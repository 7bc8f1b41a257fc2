import { expect, it, vi } from 'vitest';
import { Engine, type TokenEvent } from '../../src/engine/engine.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { fixtureDir, readGolden } from '../helpers/fixtures.js';
import { describeCuda, gpu } from './helpers.js';

// The engine on the CUDA backend draws tokens on the device (Ops.sampleRows): greedy continuations still equal the
// HF goldens, the logits never travel to the host, seeded sampling reproduces, and requests that need the logits
// (logprobs) fall back to the host path.
const collect = async (it: AsyncIterable<TokenEvent>) => {
  const out: TokenEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
};

describeCuda('engine on CUDA with device-side sampling', () => {
  const golden = readGolden('hub-sharded');

  /** Runs `fn` with NEMOTRON_CUDA_ENGINE_GRAPHS=0 (the engine steps one forward at a time). */
  const stepwise = async <R>(fn: () => Promise<R>): Promise<R> => {
    process.env.NEMOTRON_CUDA_ENGINE_GRAPHS = '0';
    try {
      return await fn();
    } finally {
      delete process.env.NEMOTRON_CUDA_ENGINE_GRAPHS;
    }
  };

  it('greedy: the golden continuation through pipelined graph sessions, no logits copied to the host', async () => {
    const g = gpu();
    const lm = loadModel(fixtureDir('hub-sharded'), g);
    const copies = vi.spyOn(g, 'toFloat32');
    const sessions = vi.spyOn(g, 'decodeSession');
    const engine = new Engine(lm);
    for (let i = 0; i < 3; i++) {
      // the first run captures the graphs, the later ones replay them
      const ev = await collect(engine.submit({ prompt: golden.prompts.long, maxTokens: 48, sampling: { temperature: 0 }, stopTokenIds: [] }));
      expect(ev.map((e) => e.token), `run ${i}`).toEqual(golden.greedy.long.tokens.slice(0, 48));
    }
    expect(sessions).toHaveBeenCalledTimes(3);
    expect(copies).not.toHaveBeenCalled();
    // a stop token mid-unit: the queued steps after it are dropped, its state freed after them
    const stopAt = golden.greedy.long.tokens[20];
    const ev = await collect(engine.submit({ prompt: golden.prompts.long, maxTokens: 48, sampling: { temperature: 0 }, stopTokenIds: [stopAt] }));
    expect(ev.map((e) => e.token)).toEqual(golden.greedy.long.tokens.slice(0, golden.greedy.long.tokens.indexOf(stopAt) + 1));
    expect(ev.at(-1)!.finishReason).toBe('stop');
    expect(engine.stats.liveStates).toBe(0);
    copies.mockRestore();
    sessions.mockRestore();
  });

  it('greedy step by step (NEMOTRON_CUDA_ENGINE_GRAPHS=0): the golden continuation, one device draw per token', async () => {
    const g = gpu();
    const lm = loadModel(fixtureDir('hub-sharded'), g);
    const copies = vi.spyOn(g, 'toFloat32');
    const draws = vi.spyOn(g, 'sampleRows');
    const ev = await stepwise(() => collect(new Engine(lm).submit({ prompt: golden.prompts.long, maxTokens: 32, sampling: { temperature: 0 }, stopTokenIds: [] })));
    expect(ev.map((e) => e.token)).toEqual(golden.greedy.long.tokens.slice(0, 32));
    expect(draws).toHaveBeenCalledTimes(32);
    expect(copies).not.toHaveBeenCalled();
    copies.mockRestore();
    draws.mockRestore();
  });

  it('seeded sampling with top-k / top-p / min-p reproduces; several requests batch together', async () => {
    const lm = loadModel(fixtureDir('hub-sharded'), gpu());
    const run = async () => {
      const engine = new Engine(lm);
      const hs = [0, 1, 2].map((i) => engine.submit({ prompt: [20 + i, 21, 22], maxTokens: 16, sampling: { temperature: 0.9, topK: 40, topP: 0.9, minP: 0.02, seed: 7 + i }, stopTokenIds: [] }));
      return Promise.all(hs.map(async (h) => (await collect(h)).map((e) => e.token)));
    };
    const a = await run();
    expect(await run()).toEqual(a);
    const V = lm.model.config.vocabSize;
    for (const toks of a) {
      expect(toks.length).toBe(16);
      for (const t of toks) expect(t >= 0 && t < V).toBe(true);
    }
    expect(new Set(a.map((t) => t.join(','))).size).toBe(3); // different seeds, different draws
    // graph sessions draw what the step-by-step device path draws: the same logits, settings and uniforms
    expect(await stepwise(run)).toEqual(a);
  });

  it('logprobs take the host path and agree with the device-drawn greedy tokens', async () => {
    const g = gpu();
    const lm = loadModel(fixtureDir('hub-sharded'), g);
    const draws = vi.spyOn(g, 'sampleRows');
    const ev = await collect(new Engine(lm).submit({ prompt: golden.prompts.long, maxTokens: 8, sampling: { temperature: 0 }, logprobs: 3, stopTokenIds: [] }));
    expect(draws).not.toHaveBeenCalled();
    expect(ev.map((e) => e.token)).toEqual(golden.greedy.long.tokens.slice(0, 8));
    for (const e of ev) expect(e.topLogprobs![0].token).toBe(e.token);
    draws.mockRestore();
  });
});
