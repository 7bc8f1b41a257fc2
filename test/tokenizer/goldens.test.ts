// Fidelity against the Python `tokenizers` library: every corpus string, every golden tokenizer, ids identical
// (special-token parsing on and off, with and without post-processor tokens), decodes identical, plus a 300 kB
// generated text compared by hash. One file loads each tokenizer once to keep the suite fast.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mixedText } from '../../scripts/tokenizer/mixed-text.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { FIXTURES, GOLDEN_NAMES, loadCorpus, loadGolden } from './fixtures.js';

const sameIds = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

describe.each(GOLDEN_NAMES)('%s vs Python tokenizers', (name) => {
  const golden = loadGolden(name);
  const tok = Tokenizer.fromDirectorySync(FIXTURES + name);
  const corpus = loadCorpus();

  it('goldens were made from this tokenizer.json and this corpus', () => {
    const sha = createHash('sha256').update(readFileSync(`${FIXTURES}${name}/tokenizer.json`)).digest('hex');
    expect(golden.tokenizer_sha256).toBe(sha);
    expect(golden.cases.map((c) => c.text)).toEqual(corpus.map((c) => c.text));
  });

  it('encode: ids identical for every corpus string (specials parsed, no post-processor)', () => {
    const bad = golden.cases.filter((c) => !sameIds(tok.encode(c.text, { addSpecialTokens: false }), c.ids));
    expect(bad.map((c) => c.text)).toEqual([]);
  });

  it('encode: ids identical with post-processor special tokens', () => {
    const bad = golden.cases.filter((c) => !sameIds(tok.encode(c.text), c.ids_add_special));
    expect(bad.map((c) => c.text)).toEqual([]);
  });

  it('encode: ids identical with special-token parsing off', () => {
    const opts = { addSpecialTokens: false, parseSpecialTokens: false };
    const bad = golden.cases.filter((c) => !sameIds(tok.encode(c.text, opts), c.ids_no_special_parse));
    expect(bad.map((c) => c.text)).toEqual([]);
  });

  it('decode: identical to Python, with and without skipping special tokens', () => {
    const bad: string[] = [];
    for (const c of golden.cases) {
      if (tok.decode(c.ids) !== c.decode) bad.push(`decode ${JSON.stringify(c.text)}`);
      if (tok.decode(c.ids, { skipSpecialTokens: true }) !== c.decode_skip) bad.push(`skip ${JSON.stringify(c.text)}`);
      if (tok.decode(c.ids_no_special_parse) !== c.decode_noparse) bad.push(`noparse ${JSON.stringify(c.text)}`);
    }
    for (const d of golden.decode_cases) {
      if (tok.decode(d.ids) !== d.decode) bad.push(`ids ${JSON.stringify(d.ids)}`);
      if (tok.decode(d.ids, { skipSpecialTokens: true }) !== d.decode_skip) bad.push(`ids skip ${JSON.stringify(d.ids)}`);
    }
    expect(bad).toEqual([]);
  });

  it('decode(encode(s)) === s (after the tokenizer normalizer, if any)', () => {
    const bad = corpus.filter((c) => {
      const expected = name === 'qwen3' ? c.text.normalize('NFC') : c.text;
      return tok.decode(tok.encode(c.text, { addSpecialTokens: false })) !== expected;
    });
    expect(bad.map((c) => c.text)).toEqual([]);
  });

  it('bulk: 300 kB of generated mixed text gives the same ids (by hash)', () => {
    const text = mixedText(golden.bulk.bytes, golden.bulk.seed);
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.slice(0, 64)).toEqual(golden.bulk.first_ids);
    expect(ids.length).toBe(golden.bulk.count);
    expect(createHash('sha256').update(ids.join(',')).digest('hex')).toBe(golden.bulk.ids_sha256);
  });

  it('added tokens and vocabulary match', () => {
    for (const [id, t] of Object.entries(golden.added_tokens)) {
      expect(tok.tokenToId(t.content)).toBe(Number(id));
      expect(tok.idToToken(Number(id))).toBe(t.content);
      expect(tok.isSpecial(Number(id))).toBe(t.special);
    }
    // Ours counts ids (highest + 1); Python counts entries, which differs only where ids have holes (cl100k).
    if (name !== 'gpt35-cl100k') expect(tok.vocabSize).toBe(golden.vocab_size_with_added);
    else expect(tok.vocabSize).toBe(100277);
  });

  it('stream decoder: pieces joined equal decode(), for corpus encodings and Python decode cases', () => {
    const bad: string[] = [];
    const check = (ids: number[], expected: string, skip: boolean): void => {
      const sd = tok.streamDecoder({ skipSpecialTokens: skip });
      const pieces = ids.map((id) => sd.push(id));
      const joined = pieces.join('') + sd.flush();
      if (joined !== expected) bad.push(`${JSON.stringify(ids)} -> ${JSON.stringify(joined)}`);
    };
    for (const c of golden.cases) {
      check(c.ids, c.decode, false);
      check(c.ids, c.decode_skip, true);
    }
    // Random id sequences with broken UTF-8: the replacement characters must land exactly where Python puts them.
    for (const d of golden.decode_cases) {
      check(d.ids, d.decode, false);
      check(d.ids, d.decode_skip, true);
    }
    expect(bad).toEqual([]);
  });

  it('stream decoder: no U+FFFD in any piece when the text itself has none', () => {
    let split = 0; // ids that end inside a multi-byte character
    const bad: string[] = [];
    for (const c of golden.cases) {
      if (c.text.includes('\ufffd')) continue;
      const sd = tok.streamDecoder();
      for (const id of c.ids) {
        const piece = sd.push(id);
        if (piece.includes('\ufffd')) bad.push(JSON.stringify(c.text));
        if (tok.decode([id]).includes('\ufffd')) split++;
      }
      if (sd.flush() !== '') bad.push(`flush ${JSON.stringify(c.text)}`);
    }
    expect(bad).toEqual([]);
    expect(split).toBeGreaterThan(0); // the corpus does exercise characters split across tokens
  });
});
