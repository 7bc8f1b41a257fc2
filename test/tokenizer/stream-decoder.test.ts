// Streaming detokenizer behaviour on characters split across tokens (the golden test covers equality with
// decode() over the whole corpus).
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { FIXTURES } from './fixtures.js';

const tok = Tokenizer.fromDirectorySync(FIXTURES + 'nemotron-tekken-32k');

/** Encodes text as one byte token per UTF-8 byte (ids 1000 + byte in the Tekken layout). */
const byteIds = (text: string): number[] => [...Buffer.from(text, 'utf8')].map((b) => 1000 + b);

describe('StreamDecoder', () => {
  it('holds back a 4-byte character until its last byte arrives', () => {
    const sd = tok.streamDecoder();
    const pieces = byteIds('a😀b').map((id) => sd.push(id));
    expect(pieces).toEqual(['a', '', '', '', '😀', 'b']);
    expect(sd.flush()).toBe('');
  });

  it('handles every split point of multi-byte text', () => {
    const text = 'é中😀\u0915\u094d\u0937👨\u200d👩';
    for (const id of byteIds(text)) expect(tok.decode([id]).length).toBeGreaterThan(0);
    const sd = tok.streamDecoder();
    const pieces = byteIds(text).map((id) => sd.push(id));
    expect(pieces.some((p) => p.includes('\ufffd'))).toBe(false);
    expect(pieces.join('') + sd.flush()).toBe(text);
  });

  it('emits U+FFFD for bytes that can never complete, exactly where decode() does', () => {
    const ids = [...byteIds('x'), 1000 + 0xe4, 1000 + 0xb8, ...byteIds('y'), 1000 + 0xff, 1000 + 0xf0];
    const sd = tok.streamDecoder();
    const pieces = ids.map((id) => sd.push(id));
    const joined = pieces.join('') + sd.flush();
    expect(joined).toBe(tok.decode(ids));
    expect(joined).toBe('x\ufffdy\ufffd\ufffd');
  });

  it('skips special tokens when asked and can be reused after flush', () => {
    const ids = tok.encode('<|im_start|>assistant\n<think>\nok</think>done<|im_end|>', { addSpecialTokens: false });
    const sd = tok.streamDecoder({ skipSpecialTokens: true });
    expect(ids.map((id) => sd.push(id)).join('') + sd.flush()).toBe('assistant\n\nokdone');
    expect(byteIds('中').map((id) => sd.push(id)).join('') + sd.flush()).toBe('中');
    const withSpecials = tok.streamDecoder();
    expect(ids.map((id) => withSpecials.push(id)).join('')).toBe(tok.decode(ids));
  });

  it('keeps a leading U+FEFF (no BOM stripping) and ignores unknown ids', () => {
    const ids = tok.encode('\ufeffhi', { addSpecialTokens: false });
    const sd = tok.streamDecoder();
    expect(ids.map((id) => sd.push(id)).join('')).toBe('\ufeffhi');
    expect(sd.push(10 ** 9)).toBe('');
    expect(tok.decode([10 ** 9, ...ids])).toBe('\ufeffhi');
  });
});
