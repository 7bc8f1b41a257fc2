// Bad model directories fail with a TokenizerLoadError that names the offending file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BYTE_TO_CHAR } from '../../src/tokenizer/byte-level.js';
import { Tokenizer, TokenizerLoadError } from '../../src/tokenizer/index.js';

const tiny = {
  model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] },
  pre_tokenizer: null,
  decoder: { type: 'ByteLevel' },
  added_tokens: [],
};

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return dir;
}

function loadError(dir: string): TokenizerLoadError {
  try {
    Tokenizer.fromDirectorySync(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerLoadError);
    return e as TokenizerLoadError;
  }
  throw new Error('expected a TokenizerLoadError');
}

const withModel = (patch: Record<string, unknown>): string => JSON.stringify({ ...tiny, ...patch });

describe('tokenizer load errors', () => {
  it('loads a minimal valid directory', () => {
    const tok = Tokenizer.fromDirectorySync(dirWith({ 'tokenizer.json': JSON.stringify(tiny) }));
    expect(tok.encode('ab')).toEqual([2]);
  });

  it('missing tokenizer.json', async () => {
    const dir = dirWith({});
    const e = loadError(dir);
    expect(e.message).toBe(`${join(dir, 'tokenizer.json')}: file not found`);
    await expect(Tokenizer.fromDirectory(dir)).rejects.toThrow(`${join(dir, 'tokenizer.json')}: file not found`);
  });

  it('malformed tokenizer.json', () => {
    const dir = dirWith({ 'tokenizer.json': '{"model": {' });
    expect(loadError(dir).message).toMatch(new RegExp(`^${join(dir, 'tokenizer.json')}: malformed JSON`));
  });

  it('malformed tokenizer_config.json', async () => {
    const dir = dirWith({ 'tokenizer.json': JSON.stringify(tiny), 'tokenizer_config.json': '{bos' });
    expect(loadError(dir).message).toMatch(/tokenizer_config\.json: malformed JSON/);
    await expect(Tokenizer.fromDirectory(dir)).rejects.toThrow(/tokenizer_config\.json: malformed JSON/);
  });

  it('unknown model type', () => {
    const dir = dirWith({ 'tokenizer.json': withModel({ model: { type: 'WordPiece', vocab: {} } }) });
    const e = loadError(dir);
    expect(e.file).toBe(join(dir, 'tokenizer.json'));
    expect(e.message).toContain('unsupported model type "WordPiece" (only BPE is supported)');
  });

  it('not an object, no model, unsupported components, broken merges', () => {
    const cases: [string, RegExp][] = [
      ['[]', /expected a JSON object/],
      [JSON.stringify({ decoder: { type: 'ByteLevel' } }), /no "model" section/],
      [withModel({ decoder: { type: 'Metaspace' } }), /unsupported decoder "Metaspace"/],
      [withModel({ pre_tokenizer: { type: 'Metaspace' } }), /unsupported pre_tokenizer type "Metaspace"/],
      [withModel({ normalizer: { type: 'Precompiled' } }), /unsupported normalizer type "Precompiled"/],
      [withModel({ post_processor: { type: 'BertProcessing' } }), /unsupported post_processor type "BertProcessing"/],
      [
        withModel({ pre_tokenizer: { type: 'Split', pattern: { Regex: 'a++' }, behavior: 'Isolated' } }),
        /possessive quantifier/,
      ],
      [
        withModel({ pre_tokenizer: { type: 'Split', pattern: { Regex: 'a' }, behavior: 'MergedWithNext' } }),
        /unsupported Split behavior "MergedWithNext"/,
      ],
      [withModel({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b'] } }), /merge 0 .* not in the vocab/],
      [withModel({ model: { type: 'BPE', vocab: { a: 0 } } }), /needs "vocab" \(object\) and "merges" \(array\)/],
    ];
    for (const [body, re] of cases) {
      const dir = dirWith({ 'tokenizer.json': body });
      const e = loadError(dir);
      expect(e.message.startsWith(join(dir, 'tokenizer.json') + ': ')).toBe(true);
      expect(e.message).toMatch(re);
    }
  });
});

describe('less common pipeline pieces', () => {
  const byteVocab = (): Record<string, number> => {
    const v: Record<string, number> = {};
    BYTE_TO_CHAR.forEach((c, b) => (v[c] = b)); // one token per byte, id = byte value
    v['ab'] = 300;
    return v;
  };
  const make = (patch: Record<string, unknown>): Tokenizer =>
    Tokenizer.fromJSON({ ...tiny, model: { type: 'BPE', vocab: byteVocab(), merges: ['a b'] }, ...patch });

  it('Split with a literal String pattern (Removed) and with - in it', () => {
    const tok = make({ pre_tokenizer: { type: 'Split', pattern: { String: '-' }, behavior: 'Removed', invert: false } });
    expect(tok.encode('ab-ab--a')).toEqual([300, 300, 97]);
  });

  it('Lowercase normalizer works per character (no final-sigma rule, as in Rust)', () => {
    const tok = make({ normalizer: { type: 'Lowercase' } });
    expect(tok.encode('AB')).toEqual([300]);
    expect(tok.decode(tok.encode('ΑΣ'))).toBe('ασ');
  });
});
