/**
 * Byte-level BPE training for the demo model's tokenizer, in the Nemotron 3 Nano vocabulary layout: ids
 * 0..controlSlots-1 are control tokens (0 <unk>, 1 <s>, 2 </s>, 3 [INST], 10 <|im_start|>, 11 <|im_end|>,
 * 12 <think>, 13 </think>, 14 <tool_call>, 15 </tool_call>, the rest <SPECIAL_n>), the 256 bytes follow at
 * controlSlots + byte value, then the learned merges. The text is pre-split with the same pre-tokenizer the
 * runtime uses (the Tekken regex, then byte level), special tokens are cut out before counting, and the merge
 * loop is deterministic (most frequent pair; ties go to the smaller pair of ids), so the same corpus always
 * gives the same tokenizer.json.
 */
import { BYTE_TO_CHAR } from '../tokenizer/byte-level.js';
import { buildPreTokenizer } from '../tokenizer/components.js';

/** Nemotron 3 Nano pre-tokenizer split (model-spec 1.3): letters, single digits, punctuation runs, newlines. */
export const TEKKEN_PATTERN =
  '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|' +
  '[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|' +
  '\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

/** Control tokens with fixed ids, as in the real model. */
export const NAMED_CONTROL_TOKENS: Readonly<Record<number, string>> = {
  0: '<unk>',
  1: '<s>',
  2: '</s>',
  3: '[INST]',
  10: '<|im_start|>',
  11: '<|im_end|>',
  12: '<think>',
  13: '</think>',
  14: '<tool_call>',
  15: '</tool_call>',
};

export interface BpeTrainOptions {
  /** Total vocabulary size (controls + 256 bytes + merges). */
  vocabSize: number;
  /** Number of control-token slots before the bytes (1000 in the real model). */
  controlSlots?: number;
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
}

/** A tokenizer.json document (the subset written here). */
export type TokenizerJson = Record<string, unknown>;

/** Control token strings for ids 0..slots-1. */
export function controlTokens(slots: number): string[] {
  return Array.from({ length: slots }, (_, i) => NAMED_CONTROL_TOKENS[i] ?? `<SPECIAL_${i}>`);
}

/** The pre_tokenizer node written into tokenizer.json. */
export function preTokenizerNode(): Record<string, unknown> {
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: TEKKEN_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

const pairKey = (a: number, b: number): number => a * 65536 + b;

/** Trains a byte-level BPE on `texts` and returns the tokenizer.json document. */
export function trainByteLevelBpe(texts: Iterable<string>, opts: BpeTrainOptions): TokenizerJson {
  const slots = opts.controlSlots ?? 1000;
  const minFreq = opts.minFrequency ?? 2;
  const firstMerge = slots + 256;
  if (opts.vocabSize < firstMerge) throw new RangeError(`vocabSize must be at least ${firstMerge}`);
  if (opts.vocabSize > 65536) throw new RangeError('vocabSize above 65536 is not supported by this trainer');
  const controls = controlTokens(slots);
  const specialSplit = new RegExp(controls.map(escapeRegExp).sort((a, b) => b.length - a.length).join('|'), 'g');
  const preTokenize = buildPreTokenizer(preTokenizerNode());
  const utf8 = new TextEncoder();

  // 1. Word counts (words as byte strings in the byte-level alphabet, which is also their vocab spelling).
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of text.split(specialSplit)) {
      if (!piece) continue;
      preTokenize(piece, (s, e) => {
        const bytes = utf8.encode(piece.slice(s, e));
        let w = '';
        for (const b of bytes) w += BYTE_TO_CHAR[b];
        counts.set(w, (counts.get(w) ?? 0) + 1);
      });
    }
  }

  // 2. Symbols: token strings by id; words as id arrays.
  const tokens: string[] = [...controls, ...BYTE_TO_CHAR];
  const byteId = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, slots + b]));
  const wordKeys = [...counts.keys()].sort();
  const words: number[][] = wordKeys.map((w) => [...w].map((ch) => byteId.get(ch)!));
  const freq = wordKeys.map((w) => counts.get(w)!);

  // 3. Pair statistics: count and the words each pair occurs in.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number): void => {
    const w = words[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const k = pairKey(w[i], w[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[wi]);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);

  // 4. Merge loop.
  const merges: [string, string][] = [];
  const known = new Set(tokens);
  while (tokens.length < opts.vocabSize) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best < 0 || bestCount < minFreq) break;
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const id = tokens.length;
    const merged = tokens[a] + tokens[b];
    if (known.has(merged)) throw new Error(`BPE merge would duplicate the token ${JSON.stringify(merged)}`);
    known.add(merged);
    tokens.push(merged);
    merges.push([tokens[a], tokens[b]]);
    const affected = [...(pairWords.get(best) ?? [])].sort((x, y) => x - y);
    for (const wi of affected) {
      addPairs(wi, -1);
      const w = words[wi];
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(w[i]);
      }
      words[wi] = out;
      addPairs(wi, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
    for (const [k, c] of pairCount) if (c <= 0) pairCount.delete(k);
  }

  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: controls.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: preTokenizerNode(),
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
