import { describe, expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { Engine, EngineError, type TokenEvent } from '../../src/engine/engine.js';
import type { DecodeSession, RowSampling } from '../../src/ops/ops.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { fixtureDir, readGolden } from '../helpers/fixtures.js';

const lm = loadModel(fixtureDir('hub-sharded'), new CpuRefBackend());
const golden = readGolden('hub-sharded');
const collect = async (it: AsyncIterable<TokenEvent>) => {
  const out: TokenEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
};

describe('Engine', () => {
  it('greedy output equals the golden continuation, with finish reason length', async () => {
    const engine = new Engine(lm);
    const ev = await collect(engine.submit({ prompt: golden.prompts.long, maxTokens: 64, sampling: { temperature: 0 }, stopTokenIds: [] }));
    expect(ev.map((e) => e.token)).toEqual(golden.greedy.long.tokens);
    expect(ev.at(-1)!.finishReason).toBe('length');
    expect(engine.stats.liveStates).toBe(0);
  });

  it('32 concurrent requests, 8 cancelled mid-stream: the rest equal their solo runs; no state leaks', async () => {
    const engine = new Engine(lm, { maxRunning: 12, maxBatchTokens: 64, prefillChunk: 16, maxWaiting: 64 });
    const prompts = Array.from({ length: 32 }, (_, i) => Array.from({ length: 3 + ((i * 5) % 29) }, (_, j) => 16 + ((i * 31 + j * 17) % 490)));
    const solo = async (p: number[]) => (await collect(new Engine(lm).submit({ prompt: p, maxTokens: 12, sampling: { temperature: 0 }, stopTokenIds: [] }))).map((e) => e.token);
    const handles = prompts.map((p) => engine.submit({ prompt: p, maxTokens: 12, sampling: { temperature: 0 }, stopTokenIds: [] }));
    const results = await Promise.all(
      handles.map(async (h, i) => {
        const toks: number[] = [];
        for await (const e of h) {
          toks.push(e.token);
          if (i % 4 === 0 && toks.length === 3) h.cancel(); // 8 cancelled mid-stream
        }
        return toks;
      }),
    );
    for (let i = 0; i < 32; i++) {
      if (i % 4 === 0) expect(results[i].length).toBe(3);
      else expect(results[i]).toEqual(await solo(prompts[i]));
    }
    expect(engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0, stateBytes: 0 });
  });

  it('AbortSignal cancels a queued or running request', async () => {
    const engine = new Engine(lm);
    const ac = new AbortController();
    const h = engine.submit({ prompt: [20, 21], maxTokens: 50, sampling: { temperature: 0 }, stopTokenIds: [], signal: ac.signal });
    const got: number[] = [];
    for await (const e of h) {
      got.push(e.token);
      if (got.length === 2) ac.abort();
    }
    expect(got.length).toBe(2);
    expect(engine.stats.liveStates).toBe(0);
  });

  it('returns logprobs consistent with the chosen token', async () => {
    const engine = new Engine(lm);
    const ev = await collect(engine.submit({ prompt: golden.prompts.short, maxTokens: 3, sampling: { temperature: 0 }, stopTokenIds: [], logprobs: 5 }));
    for (const e of ev) {
      expect(e.topLogprobs!.length).toBe(5);
      expect(e.topLogprobs![0].token).toBe(e.token); // greedy picks the most likely token
      expect(e.logprob).toBeCloseTo(e.topLogprobs![0].logprob, 6);
      expect(e.logprob!).toBeLessThan(0);
      const sorted = [...e.topLogprobs!].sort((a, b) => b.logprob - a.logprob);
      expect(e.topLogprobs).toEqual(sorted);
    }
  });

  it('logits processors can force tokens (e.g. a reasoning budget closing </think>)', async () => {
    const engine = new Engine(lm);
    const force = (gen: readonly number[], logits: Float32Array) => {
      if (gen.length === 2) {
        logits.fill(-Infinity);
        logits[13] = 0;
      }
    };
    const ev = await collect(engine.submit({ prompt: [20, 21, 22], maxTokens: 4, sampling: { temperature: 0 }, stopTokenIds: [], logitsProcessors: [force] }));
    expect(ev[2].token).toBe(13);
  });

  it('refuses bad requests with coded errors', () => {
    const engine = new Engine(lm, { maxModelLen: 100, maxRunning: 1, maxWaiting: 1 });
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(EngineError);
        return (e as EngineError).code;
      }
      return 'no error';
    };
    expect(code(() => engine.submit({ prompt: [], maxTokens: 1 }))).toBe('invalid_request');
    expect(code(() => engine.submit({ prompt: [1, 5000], maxTokens: 1 }))).toBe('invalid_request');
    expect(code(() => engine.submit({ prompt: [1], maxTokens: 100 }))).toBe('context_overflow');
    expect(code(() => engine.submit({ prompt: [1], maxTokens: 1, sampling: { topP: 2 } }))).toBe('invalid_request');
    expect(code(() => engine.submit({ prompt: [1], maxTokens: 1, logprobs: 50 }))).toBe('invalid_request');
    engine.submit({ prompt: [1], maxTokens: 1 }).cancel();
    const a = engine.submit({ prompt: [1], maxTokens: 5 });
    const b = engine.submit({ prompt: [1], maxTokens: 5 });
    expect(code(() => engine.submit({ prompt: [1], maxTokens: 5 }))).toBe('queue_full');
    a.cancel();
    b.cancel();
    engine.shutdown();
    expect(code(() => engine.submit({ prompt: [1], maxTokens: 1 }))).toBe('shutdown');
  });
});

describe('Engine: device-side sampling (Ops.sampleRows)', () => {
  /** The id-ordered inverse CDF of the temperature softmax at u (no filters), in float64: an independent oracle. */
  const drawAt = (row: Float32Array, T: number, u: number) => {
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    const w = Array.from(row, (v) => Math.exp((v - max) / T));
    const total = w.reduce((a, b) => a + b, 0);
    let acc = 0;
    for (let i = 0; i < w.length; i++) if ((acc += w[i]) > u * total) return i;
    return w.length - 1;
  };
  /** cpu-ref plus a sampleRows that records its calls and draws with the oracle (settings other than T are off here). */
  const withDevice = () => {
    const base = new CpuRefBackend();
    const calls: { rows: number; settings: { temperature: number; u: number }[] }[] = [];
    const ops = Object.assign(Object.create(base) as CpuRefBackend, {
      sampleRows(logits: never, rows: readonly { temperature: number; topK: number; topP: number; minP: number; u: number }[]) {
        const data = base.toFloat32(logits);
        const V = data.length / rows.length;
        calls.push({ rows: rows.length, settings: rows.map((r) => ({ temperature: r.temperature, u: r.u })) });
        return Int32Array.from(rows, (r, i) => {
          const row = data.subarray(i * V, (i + 1) * V);
          return r.temperature === 0 ? drawAt(row, 1e-9, 0) : drawAt(row, r.temperature, r.u);
        });
      },
    });
    return { lm: loadModel(fixtureDir('hub-sharded'), ops), calls };
  };

  /**
   * withDevice plus a pipelined decodeSession as the CUDA graphs run it: units of 2 steps, up to 3 units queued
   * ahead of the one returned, each step's settings drawn when it is queued (the host's dry run) and its forward run
   * only when a unit is read back or the session ends (the GPU), drawing with the same oracle. It counts forwards on
   * states the engine already freed (a queued step writing freed memory on the GPU).
   */
  const withSession = () => {
    const { lm: dlm, calls } = withDevice();
    const ops = dlm.model.ops as CpuRefBackend & { sampleRows(l: unknown, r: readonly RowSampling[]): Int32Array };
    const log = { sessions: 0, steps: 0, forwardsOnFreed: 0, failAtNext: 0 };
    const freed = new Set<unknown>();
    const model = dlm.model as unknown as { freeState(s: unknown): void; forward(b: { state: unknown }[]): unknown };
    const freeState = model.freeState.bind(model);
    model.freeState = (st) => (freed.add(st), freeState(st));
    const forward = model.forward.bind(model);
    model.forward = (batch) => {
      if (batch.some((b) => freed.has(b.state))) log.forwardsOnFreed++;
      return forward(batch);
    };
    Object.assign(ops, {
      decodeSession(fwd: (ids: Int32Array | null) => never, first: Int32Array, steps: number, draw: ((k: number) => readonly RowSampling[]) | null): DecodeSession {
        log.sessions++;
        const greedy = Array.from(first, () => ({ temperature: 0, topK: 0, topP: 1, minP: 0, u: 0 }));
        const queued: (readonly RowSampling[])[][] = [];
        let ids = first;
        let i = 0;
        let open = true;
        const run = (unit: (readonly RowSampling[])[]) =>
          unit.map((rows) => {
            log.steps++;
            return (ids = ops.sampleRows(fwd(ids), rows));
          });
        const queue = () => {
          const u = Math.min(2, steps - i);
          queued.push(Array.from({ length: u }, (_, k) => (draw ? draw(i + k) : greedy)));
          i += u;
        };
        let nexts = 0;
        return {
          next: () => {
            if (!open) return [];
            if (++nexts === log.failAtNext) {
              open = false; // as DecodeGraphs.session closes itself when a step fails
              throw new Error('device fault (test)');
            }
            while (i < steps && queued.length < 4) queue();
            return queued.length ? run(queued.shift()!) : [];
          },
          end: () => {
            if (!open) return [];
            open = false;
            return queued.splice(0).flatMap(run);
          },
        };
      },
    });
    return { lm: dlm, calls, log, freed };
  };

  it('a pipelined decode session (Ops.decodeSession) gives the step-by-step tokens: greedy, seeded, stops, budgets', async () => {
    const { lm: slm, log } = withSession();
    const engine = new Engine(slm);
    const greedy = await collect(engine.submit({ prompt: golden.prompts.long, maxTokens: 16, sampling: { temperature: 0 }, stopTokenIds: [] }));
    expect(greedy.map((e) => e.token)).toEqual(golden.greedy.long.tokens.slice(0, 16));
    expect(greedy.at(-1)!.finishReason).toBe('length');
    expect(log.sessions).toBe(1); // the prefill step draws the first token, a session the other 15
    expect(log.steps).toBe(15); // and no step beyond the budget
    // a stop token mid-unit: the steps queued after it are dropped, the state is freed only after they ran
    const stopAt = golden.greedy.long.tokens[6];
    const stopped = await collect(engine.submit({ prompt: golden.prompts.long, maxTokens: 16, sampling: { temperature: 0 }, stopTokenIds: [stopAt] }));
    const want = golden.greedy.long.tokens.slice(0, golden.greedy.long.tokens.indexOf(stopAt) + 1);
    expect(stopped.map((e) => e.token)).toEqual(want);
    expect(stopped.at(-1)!.finishReason).toBe('stop');
    // seeded sampling: the same tokens and uniforms as the step-by-step device path
    const req = { prompt: [20, 21, 22], maxTokens: 12, sampling: { temperature: 0.9, seed: 99 }, stopTokenIds: [] };
    const viaSession = (await collect(engine.submit(req))).map((e) => e.token);
    const { lm: dlm } = withDevice();
    const stepwise = (await collect(new Engine(dlm).submit(req))).map((e) => e.token);
    expect(viaSession).toEqual(stepwise);
    expect(log.forwardsOnFreed).toBe(0);
    expect(engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0, stateBytes: 0 });
  });

  it('sessions end for arrivals and cancellations: every request equals its solo run, no queued step writes a freed state', async () => {
    const { lm: slm, log } = withSession();
    const engine = new Engine(slm, { maxRunning: 4 });
    const prompts = [[20, 21, 22], [30, 31], [40, 41, 42, 43], [50]];
    const budgets = [14, 9, 11, 7];
    const solo = async (i: number) => (await collect(new Engine(lm).submit({ prompt: prompts[i], maxTokens: budgets[i], sampling: { temperature: 0 }, stopTokenIds: [] }))).map((e) => e.token);
    const run = async (i: number, cancelAt = 0) => {
      const h = engine.submit({ prompt: prompts[i], maxTokens: budgets[i], sampling: { temperature: 0 }, stopTokenIds: [] });
      const toks: number[] = [];
      for await (const e of h) {
        toks.push(e.token);
        if (toks.length === cancelAt) h.cancel();
      }
      return toks;
    };
    const first = [run(0), run(1, 4)]; // request 1 is cancelled after 4 tokens, inside a session
    await new Promise((r) => setTimeout(r, 0));
    const later = [run(2), run(3)]; // arrive while the first two decode
    const [a, b, c, d] = await Promise.all([...first, ...later]);
    expect(a).toEqual(await solo(0));
    expect(b).toEqual((await solo(1)).slice(0, 4));
    expect(c).toEqual(await solo(2));
    expect(d).toEqual(await solo(3));
    expect(log.sessions).toBeGreaterThan(1);
    expect(log.forwardsOnFreed).toBe(0);
    expect(engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0, stateBytes: 0 });
  });

  it('requests that wait for a running slot do not stop sessions: with one slot, each request decodes in one session', async () => {
    const { lm: slm, log } = withSession();
    const engine = new Engine(slm, { maxRunning: 1 });
    const req = (p: number[]) => ({ prompt: p, maxTokens: 10, sampling: { temperature: 0 }, stopTokenIds: [] });
    const [a, b] = await Promise.all([collect(engine.submit(req([20, 21]))), collect(engine.submit(req([30, 31])))]);
    expect(a.map((e) => e.token)).toEqual((await collect(new Engine(lm).submit(req([20, 21])))).map((e) => e.token));
    expect(b.map((e) => e.token)).toEqual((await collect(new Engine(lm).submit(req([30, 31])))).map((e) => e.token));
    expect(log.sessions).toBe(2);
    expect(log.steps).toBe(18);
  });

  it('shutdown inside a session ends it: the streams close, every state is freed after the queued steps ran', async () => {
    const { lm: slm, log, freed } = withSession();
    const engine = new Engine(slm);
    const hs = [[20, 21], [30, 31, 32]].map((p) => engine.submit({ prompt: p, maxTokens: 30, sampling: { temperature: 0 }, stopTokenIds: [] }));
    const counts = await Promise.all(
      hs.map(async (h, i) => {
        let n = 0;
        for await (const _ of h) if (++n === 5 && i === 0) engine.shutdown();
        return n;
      }),
    );
    expect(counts[0]).toBe(5);
    expect(counts[1]).toBeLessThan(30);
    expect(log.sessions).toBe(1);
    expect(log.forwardsOnFreed).toBe(0);
    expect(freed.size).toBe(2); // both states, parked during the session, freed at its end
    expect(engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0, stateBytes: 0 });
  });

  it('a failing session fails its rows with a coded error; the engine then serves the next request', async () => {
    const { lm: slm, log, freed } = withSession();
    const engine = new Engine(slm);
    log.failAtNext = 3;
    const req = { prompt: [20, 21], maxTokens: 20, sampling: { temperature: 0 }, stopTokenIds: [] };
    const got: number[] = [];
    const err = await (async () => {
      try {
        for await (const e of engine.submit(req)) got.push(e.token);
      } catch (e) {
        return e as EngineError;
      }
      return null;
    })();
    expect(err?.code).toBe('internal');
    expect(err?.message).toMatch(/device fault/);
    expect(got.length).toBeGreaterThan(1); // the prefill's token and the first units
    expect(freed.size).toBe(1);
    log.failAtNext = 0;
    const ok = await collect(engine.submit(req));
    expect(ok.map((e) => e.token)).toEqual((await collect(new Engine(lm).submit(req))).map((e) => e.token));
    expect(engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0 });
  });

  it('greedy through the device path equals the golden continuation; the logits never come to the host', async () => {
    const { lm: dlm, calls } = withDevice();
    const engine = new Engine(dlm);
    const ev = await collect(engine.submit({ prompt: golden.prompts.long, maxTokens: 16, sampling: { temperature: 0 }, stopTokenIds: [] }));
    expect(ev.map((e) => e.token)).toEqual(golden.greedy.long.tokens.slice(0, 16));
    expect(calls.length).toBe(16);
    expect(calls.every((c) => c.settings.every((s) => s.temperature === 0 && s.u === 0))).toBe(true);
  });

  it('a seeded request draws with the uniforms of its own seeded RNG, one per token, reproducibly', async () => {
    const { lm: dlm, calls } = withDevice();
    const run = async () => (await collect(new Engine(dlm).submit({ prompt: [20, 21, 22], maxTokens: 12, sampling: { temperature: 0.9, seed: 1234 }, stopTokenIds: [] }))).map((e) => e.token);
    const a = await run();
    const us = calls.map((c) => c.settings[0].u);
    const b = await run();
    expect(b).toEqual(a);
    expect(calls.slice(12).map((c) => c.settings[0].u)).toEqual(us);
    expect(new Set(us).size).toBe(12); // a fresh uniform per token
    // the same draws on the host from the engine's logits at each step: replay with the recorded uniforms
    const { lm: hostLm } = withDevice();
    const state = hostLm.model.newState();
    let logits = hostLm.model.ops.toFloat32(hostLm.model.forward([{ tokens: [20, 21, 22], state }]));
    const replay: number[] = [];
    for (const u of us) {
      const t = drawAt(logits, 0.9, u);
      replay.push(t);
      logits = hostLm.model.ops.toFloat32(hostLm.model.forward([{ tokens: [t], state }]));
    }
    expect(a).toEqual(replay);
  });

  it('a backend that declines the rows (sampleRows -> null) leaves the draw to the host', async () => {
    let asked = 0;
    const ops = Object.assign(Object.create(new CpuRefBackend()) as CpuRefBackend, {
      sampleRows() {
        asked++;
        return null;
      },
    });
    const dlm = loadModel(fixtureDir('hub-sharded'), ops);
    const ev = await collect(new Engine(dlm).submit({ prompt: golden.prompts.long, maxTokens: 8, sampling: { temperature: 0 }, stopTokenIds: [] }));
    expect(ev.map((e) => e.token)).toEqual(golden.greedy.long.tokens.slice(0, 8));
    expect(asked).toBe(8);
  });

  it('falls back to host sampling for logprobs, logits processors and penalties', async () => {
    const { lm: dlm, calls } = withDevice();
    const engine = new Engine(dlm);
    const req = { prompt: [20, 21], maxTokens: 3, stopTokenIds: [] as number[] };
    const lp = await collect(engine.submit({ ...req, sampling: { temperature: 0 }, logprobs: 2 }));
    expect(lp.every((e) => e.logprob !== undefined)).toBe(true);
    await collect(engine.submit({ ...req, sampling: { temperature: 0 }, logitsProcessors: [() => {}] }));
    await collect(engine.submit({ ...req, sampling: { temperature: 0.5, presencePenalty: 1 } }));
    expect(calls.length).toBe(0);
  });
});
