// Special-token handling on the project's own Nemotron-layout tokenizer: ids 0..15 as in Nemotron 3 Nano,
// parsing of special-token strings in raw prompts on and off, post-processor <s>, config-derived ids.
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { FIXTURES } from './fixtures.js';

const tok = Tokenizer.fromDirectorySync(FIXTURES + 'nemotron-tekken-32k');

describe('Nemotron-layout special tokens', () => {
  it('has the Nemotron 3 Nano control ids and config-derived bos/eos/pad', () => {
    expect(tok.specialTokens).toEqual({
      bos: 1,
      eos: 11,
      pad: 0,
      unk: 0,
      imStart: 10,
      imEnd: 11,
      think: 12,
      thinkEnd: 13,
      toolCall: 14,
      toolCallEnd: 15,
    });
    const names = ['<unk>', '<s>', '</s>', '[INST]'];
    names.forEach((n, i) => expect(tok.tokenToId(n)).toBe(i));
    expect(tok.idToToken(10)).toBe('<|im_start|>');
    expect(tok.vocabSize).toBe(32768);
    expect(tok.tokenToId('Ċ')).toBe(1010); // "\n" is byte 10 at 1000 + 10, as in the real Tekken layout
    expect(tok.encode('\n', { addSpecialTokens: false })).toEqual([1010]);
    for (let id = 0; id < 1000; id++) expect(tok.isSpecial(id)).toBe(true);
    expect(tok.isSpecial(1010)).toBe(false);
  });

  const prompt = '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n';

  it('parses special-token strings in raw text by default (raw /v1/completions prompts)', () => {
    const ids = tok.encode(prompt, { addSpecialTokens: false });
    expect(ids[0]).toBe(10);
    expect(ids.filter((id) => id < 1000)).toEqual([10, 11, 10, 12]);
    expect(tok.decode(ids)).toBe(prompt);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nHi\nassistant\n\n');
  });

  it('encodes special-token strings as plain text when parsing is off', () => {
    const ids = tok.encode(prompt, { addSpecialTokens: false, parseSpecialTokens: false });
    expect(ids.some((id) => id < 1000)).toBe(false);
    expect(tok.decode(ids)).toBe(prompt);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(prompt);
  });

  it('adds <s> through the post-processor only when asked', () => {
    expect(tok.encode('Hi')[0]).toBe(1);
    expect(tok.encode('Hi', { addSpecialTokens: false })[0]).not.toBe(1);
    expect(tok.encode('', { addSpecialTokens: true })).toEqual([1]);
    expect(tok.encode('', { addSpecialTokens: false })).toEqual([]);
  });

  it('leaves look-alikes alone and matches the longest token at the leftmost position', () => {
    for (const s of ['<|im_start|', '<|im_start |>', '< think>', '<THINK>', '<SPECIAL_1000>']) {
      expect(tok.encode(s, { addSpecialTokens: false }).some((id) => id < 1000)).toBe(false);
    }
    // <SPECIAL_10> is not a token (id 10 is <|im_start|>); <SPECIAL_100> is, and wins over a shorter prefix.
    expect(tok.encode('<SPECIAL_100>', { addSpecialTokens: false })).toEqual([100]);
    expect(tok.encode('x<<|im_end|>>y', { addSpecialTokens: false })).toContain(11);
  });
});

describe('input JavaScript strings can hold but UTF-8 cannot', () => {
  it('encodes a lone surrogate as U+FFFD instead of throwing', () => {
    const ids = tok.encode('a\ud800b', { addSpecialTokens: false });
    expect(tok.decode(ids)).toBe('a\ufffdb');
    expect(ids).toEqual(tok.encode('a\ufffdb', { addSpecialTokens: false }));
  });
});
