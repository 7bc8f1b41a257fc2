import { describe, expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { fixtureDir, readGolden, relErr } from '../helpers/fixtures.js';

// Issue 2 invariances: prefill == token-by-token decode, chunked prefill == one-shot, batch == alone.
for (const name of ['hub-sharded', 'legacy-f16'] as const) {
  describe(`invariances: ${name}`, () => {
    const { model } = loadModel(fixtureDir(name), new CpuRefBackend());
    const golden = readGolden(name);
    const tokens = [...golden.prompts.long, ...golden.greedy.long.tokens.slice(0, 12)]; // crosses several chunks
    const V = model.config.vocabSize;
    const rows = (x: Float32Array, r: number) => x.subarray(r * V, (r + 1) * V);
    const oneShot = model.ops.toFloat32(model.forward([{ tokens, state: model.newState() }], true));

    it('prefill of N tokens == N single decode steps (every position, <= 1e-5 rel)', () => {
      const state = model.newState();
      let worst = 0;
      tokens.forEach((tok, r) => {
        const step = model.ops.toFloat32(model.forward([{ tokens: [tok], state }]));
        worst = Math.max(worst, relErr(step, rows(oneShot, r)));
      });
      expect(worst).toBeLessThanOrEqual(1e-5);
      expect(state.position).toBe(tokens.length);
    });

    it.each([1, 3, 5, 16])('chunked prefill (chunks of %i) == one-shot', (chunk) => {
      const state = model.newState();
      let worst = 0;
      for (let i = 0; i < tokens.length; i += chunk) {
        const part = tokens.slice(i, i + chunk);
        const out = model.ops.toFloat32(model.forward([{ tokens: part, state }], true));
        part.forEach((_, j) => (worst = Math.max(worst, relErr(rows(out, j), rows(oneShot, i + j)))));
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
    });

    it('a batch of two sequences == each alone (prefill then batched decode)', () => {
      const a = tokens.slice(0, 30);
      const b = golden.prompts.short;
      const alone = (seq: number[], extra: number[]) => {
        const state = model.newState();
        const first = model.ops.toFloat32(model.forward([{ tokens: seq, state }]));
        const steps = extra.map((t) => model.ops.toFloat32(model.forward([{ tokens: [t], state }])));
        return [first, ...steps];
      };
      const extraA = [5, 77, 300];
      const extraB = [9, 41, 200];
      const refA = alone(a, extraA);
      const refB = alone(b, extraB);
      const sa = model.newState();
      const sb = model.newState();
      const outs = [model.ops.toFloat32(model.forward([{ tokens: a, state: sa }, { tokens: b, state: sb }]))];
      for (let i = 0; i < extraA.length; i++) {
        outs.push(model.ops.toFloat32(model.forward([{ tokens: [extraA[i]], state: sa }, { tokens: [extraB[i]], state: sb }])));
      }
      let worst = 0;
      outs.forEach((o, i) => {
        worst = Math.max(worst, relErr(rows(o, 0), refA[i]), relErr(rows(o, 1), refB[i]));
      });
      expect(worst).toBeLessThanOrEqual(1e-6);
    });
  });
}

describe('layouts', () => {
  it('hub (sharded, per-expert) and transformers-5 (fused experts) layouts give identical logits', () => {
    const hub = loadModel(fixtureDir('hub-sharded'), new CpuRefBackend()).model;
    const hf5 = loadModel(fixtureDir('hf5-fused'), new CpuRefBackend()).model;
    const tokens = readGolden('hub-sharded').prompts.long;
    const a = hub.ops.toFloat32(hub.forward([{ tokens, state: hub.newState() }], true));
    const b = hf5.ops.toFloat32(hf5.forward([{ tokens, state: hf5.newState() }], true));
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});
