/**
 * The token-mask processor on random logits (no model): whatever the logits, sampled output stays in the
 * grammar, is complete, and ends with a stop token within max_tokens (length-aware closing).
 */
import { describe, expect, it } from 'vitest';
import { anyJsonObject, compileSchema, grammarConstraint, VocabIndex, type Node } from '../../src/structured/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { TINY_CHAT } from '../server/helpers.js';

const tok = Tokenizer.fromDirectorySync(TINY_CHAT);
const vocab = new VocabIndex(tok);
const STOP = 11;

/** xorshift for reproducible random logits. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Generates with the constraint; returns the ids (without the stop token) and whether it stopped. */
function generate(grammar: Node, maxTokens: number, seed: number, thinking = false): { ids: number[]; stopped: boolean } {
  const proc = grammarConstraint({ grammar, vocab, stopIds: [STOP], maxTokens, reasoning: thinking ? { thinkEndId: 13 } : null });
  const rand = rng(seed);
  const ids: number[] = [];
  while (ids.length < maxTokens) {
    const logits = new Float32Array(tok.vocabSize).map(() => rand() * 8);
    proc(ids, logits);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    expect(Number.isFinite(logits[best])).toBe(true);
    if (best === STOP) return { ids, stopped: true };
    ids.push(best);
  }
  return { ids, stopped: false };
}

const text = (ids: number[]) => tok.decode(ids);

describe('grammar constraint on random logits', () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string' }, n: { type: 'integer', minimum: 0, maximum: 999 }, tags: { type: 'array', items: { enum: ['x', 'yy'] } }, ok: { type: ['boolean', 'null'] } },
    required: ['name', 'n', 'tags', 'ok'],
    additionalProperties: false,
  };
  const g = compileSchema(schema);

  it('always produces complete, schema-valid JSON that ends with a stop token', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { ids, stopped } = generate(g, 60, seed);
      expect(stopped, `seed ${seed}: ${text(ids)}`).toBe(true);
      const v = JSON.parse(text(ids));
      expect(Object.keys(v)).toEqual(['name', 'n', 'tags', 'ok']);
      expect(Number.isInteger(v.n) && v.n >= 0 && v.n <= 999).toBe(true);
      expect(v.tags.every((t: string) => t === 'x' || t === 'yy')).toBe(true);
    }
  });

  it('closes early enough when max_tokens is tight (json_object too)', () => {
    const min = '{"name":"","n":0,"tags":[],"ok":null}'.length;
    for (let seed = 1; seed <= 10; seed++) {
      const { ids, stopped } = generate(g, min + 1, seed);
      expect(stopped).toBe(true);
      expect(() => JSON.parse(text(ids))).not.toThrow();
      const o = generate(anyJsonObject(), 12, seed);
      expect(o.stopped).toBe(true);
      expect(typeof JSON.parse(text(o.ids))).toBe('object');
    }
  });

  it('reasoning-aware: free text until </think>, which is forced in time for the JSON', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { ids, stopped } = generate(g, 80, seed, true);
      expect(stopped).toBe(true);
      const at = ids.indexOf(13);
      expect(at).toBeGreaterThanOrEqual(0);
      expect(() => JSON.parse(text(ids.slice(at + 1)))).not.toThrow();
    }
  });
});

describe('vocabulary index', () => {
  it('the plain-text fast path inside strings allows exactly what a full trie walk allows', async () => {
    const { advance, END } = await import('../../src/structured/index.js');
    const { ws } = await import('../../src/structured/grammar.js');
    const g = compileSchema({ type: 'object', properties: { s: { type: 'string' } }, required: ['s'] });
    for (const prefix of ['{"s":"', '{"s":"ab', '{"s":"\\n']) {
      const s = advance(ws(g.start(END)), new TextEncoder().encode(prefix))!;
      expect(s.plain).toBe(true);
      const slow = { step: (b: number) => s.step(b), accept: s.accept, min: s.min };
      for (const budget of [Infinity, s.min, s.min - 1]) {
        expect([...vocab.allowed(s, budget)].sort((a, b) => a - b)).toEqual([...vocab.allowed(slow, budget)].sort((a, b) => a - b));
      }
    }
  });
});
