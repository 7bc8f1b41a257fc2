/**
 * Deterministic mixed-language text generator: the TypeScript twin of mixed_text.py (same pools file, same
 * xorshift32 stream, same branch table and evaluation order), so `mixedText(n, seed)` is byte-identical to the
 * Python output. Used by bench/tokenizer-encode.ts and by the bulk golden test.
 */
import { readFileSync } from 'node:fs';

interface Pools {
  words: string[];
  code: string[];
  emoji: string[];
  urls: string[];
  punct: string[];
  ranges: Record<string, [number, number]>;
}

const POOLS = JSON.parse(
  readFileSync(new URL('./mixed-text-pools.json', import.meta.url), 'utf8'),
) as Pools;

class XorShift32 {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.x = x;
    return x;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

function run(rng: XorShift32, key: string, n: number): string {
  const [lo, hi] = POOLS.ranges[key];
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCodePoint(lo + rng.below(hi - lo + 1));
  return s;
}

/** Calls f count times in order and joins the results (mirrors Python's generator-expression joins). */
function joinTimes(count: number, sep: string, f: () => string): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(f());
  return parts.join(sep);
}

function piece(rng: XorShift32): string {
  const { words, punct } = POOLS;
  const kind = rng.below(100);
  if (kind < 40) {
    const n = 3 + rng.below(12);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      let w = words[rng.below(words.length)];
      if (i === 0 || rng.below(9) === 0) w = w[0].toUpperCase() + w.slice(1);
      parts.push(w);
    }
    return parts.join(' ') + punct[rng.below(punct.length)];
  }
  if (kind < 52) return POOLS.code[rng.below(POOLS.code.length)] + '\n';
  if (kind < 58) {
    const s = run(rng, 'cjk', 2 + rng.below(24));
    return s + (rng.below(2) === 0 ? '。' : '，');
  }
  if (kind < 60) {
    const a = run(rng, 'hiragana', 2 + rng.below(8));
    return a + run(rng, 'katakana', 1 + rng.below(6)) + '、';
  }
  if (kind < 63) return joinTimes(1 + rng.below(5), ' ', () => run(rng, 'hangul', 1 + rng.below(4))) + '. ';
  if (kind < 67) {
    const s = joinTimes(2 + rng.below(8), ' ', () => {
      const up = run(rng, 'cyrillic_upper', rng.below(2));
      return up + run(rng, 'cyrillic_lower', 2 + rng.below(9));
    });
    return s + punct[rng.below(punct.length)];
  }
  if (kind < 70) return joinTimes(2 + rng.below(6), ' ', () => run(rng, 'arabic', 2 + rng.below(7))) + '، ';
  if (kind < 73) {
    const s = joinTimes(2 + rng.below(5), ' ', () =>
      joinTimes(1 + rng.below(4), '', () => {
        const c = run(rng, 'devanagari_consonant', 1);
        return c + run(rng, 'devanagari_sign', rng.below(2));
      }),
    );
    return s + '। ';
  }
  if (kind < 75) {
    const key = (['greek', 'hebrew', 'thai'] as const)[rng.below(3)];
    return joinTimes(1 + rng.below(5), ' ', () => run(rng, key, 2 + rng.below(8))) + ' ';
  }
  if (kind < 80) {
    let digits = joinTimes(1 + rng.below(14), '', () => String(rng.below(10)));
    if (rng.below(3) === 0) digits += '.' + joinTimes(1 + rng.below(4), '', () => String(rng.below(10)));
    return digits + (rng.below(2) === 0 ? ' ' : ', ');
  }
  if (kind < 84) {
    const e = POOLS.emoji[rng.below(POOLS.emoji.length)];
    return e + (rng.below(2) === 0 ? ' ' : '');
  }
  if (kind < 87) return POOLS.urls[rng.below(POOLS.urls.length)] + ' ';
  if (kind < 94) return ['\n', '\n\n', '\r\n', '\t', '    ', '  ', '\n\n\n    ', ' \n'][rng.below(8)];
  return punct[rng.below(punct.length)];
}

/** Pieces are appended until the UTF-8 length reaches targetBytes (so the result is slightly longer). */
export function mixedText(targetBytes: number, seed: number): string {
  const rng = new XorShift32(seed);
  const out: string[] = [];
  let size = 0;
  while (size < targetBytes) {
    const p = piece(rng);
    out.push(p);
    size += Buffer.byteLength(p, 'utf8');
  }
  return out.join('');
}
