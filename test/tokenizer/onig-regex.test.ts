// Oniguruma -> JavaScript pattern translation: the places where the two engines differ.
import { describe, expect, it } from 'vitest';
import { compileOnig, UnsupportedPatternError } from '../../src/tokenizer/onig-regex.js';

const all = (pattern: string, text: string): string[] => text.match(compileOnig(pattern)) ?? [];

describe('onig regex translation', () => {
  it('\\s is Unicode White_Space: NEL yes, BOM no', () => {
    expect(all('\\s', 'a\u0085b\ufeffc\u3000')).toEqual(['\u0085', '\u3000']);
    expect(all('\\S+', 'a\u0085b\ufeffc')).toEqual(['a', 'b\ufeffc']);
    expect(all('[^\\s\\p{L}]+', 'ab\ufeff!! c')).toEqual(['\ufeff!!']);
  });

  it('(?i:...) folds case, including KELVIN SIGN and LONG S', () => {
    expect(all("(?i:'s|'ll)", "'s 'S '\u017f 'LL 'lL 'x")).toEqual(["'s", "'S", "'\u017f", "'LL", "'lL"]);
    expect(all('(?i:[dk])', 'dDkK\u212ax')).toEqual(['d', 'D', 'k', 'K', '\u212a']);
    expect(all("(?i:'s)|x", "'sX x")).toEqual(["'s", 'x']); // the case-insensitive scope ends with the group
  });

  it('line-based . ^ $ and Unicode \\d \\w', () => {
    expect(all('.+', 'a\rb\nc\u2028d')).toEqual(['a\rb', 'c\u2028d']);
    expect(all('^x', 'x\nx x')).toEqual(['x', 'x']);
    expect(all('x$', 'x\nx x')).toEqual(['x', 'x']);
    expect(all('\\d+', '12٣४x')).toEqual(['12٣४']);
    expect(all('\\w+', 'héllo_1 мир')).toEqual(['héllo_1', 'мир']);
  });

  it('quantifiers, escapes, literal braces and a leading ] in a class', () => {
    expect(all('\\p{N}{1,3}', '12345')).toEqual(['123', '45']);
    expect(all('a{,2}b', 'aaab')).toEqual(['aab']);
    expect(all('[]a]+', 'a]x')).toEqual(['a]']);
    expect(all("\\'\\{x}", "'{x}")).toEqual(["'{x}"]);
    expect(all('\\x{1F600}', '😀')).toEqual(['😀']);
  });

  it('rejects constructs it cannot translate faithfully', () => {
    for (const p of ['a++', 'a*+', '(?>a)', '(?i)a', '[a[b]]', '[a&&b]', '\\1', '\\h', '(a']) {
      expect(() => compileOnig(p), p).toThrow(UnsupportedPatternError);
    }
  });
});
