import { describe, expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { generate, generateStream } from '../../src/engine/generate.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { FIXTURE_NAMES, fixtureDir, readGolden } from '../helpers/fixtures.js';

describe.each(FIXTURE_NAMES)('greedy continuation: %s', (name) => {
  const lm = loadModel(fixtureDir(name), new CpuRefBackend());
  const golden = readGolden(name);
  it.each(Object.keys(golden.prompts))('64 greedy tokens after prompt "%s" equal the reference', async (p) => {
    const want = golden.greedy[p].tokens;
    expect(want.length).toBeGreaterThanOrEqual(64);
    const out = await generate(lm, golden.prompts[p], { maxTokens: want.length, temperature: 0, stopTokenIds: [] });
    expect(out.tokens).toEqual(want);
    expect(out.finishReason).toBe('length');
  });
});

describe('generation controls', () => {
  const lm = loadModel(fixtureDir('hub-sharded'), new CpuRefBackend());
  const prompt = readGolden('hub-sharded').prompts.short;

  it('reads eos ids {2, 11} from generation_config.json', () => {
    expect(lm.generation.eosTokenIds).toEqual([2, 11]);
  });

  it('stops at a stop token and reports finish reason "stop"', async () => {
    const greedy = readGolden('hub-sharded').greedy.short.tokens;
    const stopAt = greedy[5];
    const out = await generate(lm, prompt, { maxTokens: 64, temperature: 0, stopTokenIds: [stopAt] });
    expect(out.finishReason).toBe('stop');
    expect(out.tokens).toEqual(greedy.slice(0, greedy.indexOf(stopAt) + 1));
  });

  it('same seed -> same sampled tokens; different seed -> different tokens', async () => {
    const opts = { maxTokens: 24, temperature: 1.5, stopTokenIds: [] as number[] };
    const a = await generate(lm, prompt, { ...opts, seed: 7 });
    const b = await generate(lm, prompt, { ...opts, seed: 7 });
    const c = await generate(lm, prompt, { ...opts, seed: 8 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });

  it('prefill in chunks gives the same greedy tokens', async () => {
    const want = readGolden('hub-sharded').greedy.long.tokens.slice(0, 16);
    const out = await generate(lm, readGolden('hub-sharded').prompts.long, { maxTokens: 16, temperature: 0, stopTokenIds: [], prefillChunk: 7 });
    expect(out.tokens).toEqual(want);
  });

  it('streams tokens with indexes and a final finish reason', async () => {
    const seen = [];
    for await (const t of generateStream(lm, prompt, { maxTokens: 5, temperature: 0, stopTokenIds: [] })) seen.push(t);
    expect(seen.map((t) => t.index)).toEqual([0, 1, 2, 3, 4]);
    expect(seen[4].finishReason).toBe('length');
    expect(seen.slice(0, 4).every((t) => t.finishReason === undefined)).toBe(true);
  });

  it('rejects bad input with clear errors', async () => {
    await expect(generate(lm, [], { maxTokens: 4 })).rejects.toThrow(/prompt is empty/);
    await expect(generate(lm, [1, 99999], { maxTokens: 4 })).rejects.toThrow(/outside the vocabulary/);
    await expect(generate(lm, [1, 2], { maxTokens: 0 })).rejects.toThrow(/max_tokens/);
    await expect(generate(lm, [1, 2], { maxTokens: 2, temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(generate(lm, [1, 2], { maxTokens: 2, topP: 0 })).rejects.toThrow(/top_p/);
  });

  it('stops when the abort signal fires', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    for await (const t of generateStream(lm, prompt, { maxTokens: 50, temperature: 0, stopTokenIds: [], signal: ac.signal })) {
      seen.push(t.token);
      if (seen.length === 3) ac.abort();
    }
    expect(seen.length).toBe(3);
  });
});
