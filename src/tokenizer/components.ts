// Builders for the tokenizer.json pipeline stages other than the BPE model: normalizer, pre-tokenizer,
// post-processor. Each accepts the JSON node and throws UnsupportedComponentError for anything it cannot
// reproduce exactly, so a tokenizer is either loaded faithfully or refused with a clear message.
import { compileOnig } from './onig-regex.js';

export class UnsupportedComponentError extends Error {}

type Json = Record<string, unknown>;

function typeOf(node: Json, stage: string): string {
  const t = node.type;
  if (typeof t !== 'string') throw new UnsupportedComponentError(`${stage} without a "type" field`);
  return t;
}

// ---------------------------------------------------------------------------------------------- normalizer

export type Normalizer = (text: string) => string;

/** Returns null for a null normalizer (identity). */
export function buildNormalizer(node: unknown): Normalizer | null {
  if (node === null || node === undefined) return null;
  const n = node as Json;
  const t = typeOf(n, 'normalizer');
  switch (t) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (s) => s.normalize(t);
    case 'Lowercase':
      // Per code point, like the Rust normalizer (no context rules such as final sigma).
      return (s) => {
        let out = '';
        for (const ch of s) out += ch.toLowerCase();
        return out;
      };
    case 'Sequence': {
      const parts = ((n.normalizers as unknown[]) ?? []).map(buildNormalizer).filter((f): f is Normalizer => !!f);
      if (parts.length === 0) return null;
      if (parts.length === 1) return parts[0];
      return (s) => parts.reduce((acc, f) => f(acc), s);
    }
    default:
      throw new UnsupportedComponentError(`unsupported normalizer type "${t}"`);
  }
}

// ------------------------------------------------------------------------------------------- pre-tokenizer

/** Receives one word as the range text[start, end). */
export type WordSink = (start: number, end: number) => void;

/**
 * Splits text into words, calling `emit` with each word's [start, end) offsets in order. Offsets rather than
 * substrings: the BPE cache is probed with ranges, so most words never become strings.
 */
export type PreTokenizer = (text: string, emit: WordSink) => void;

// The regex ByteLevel applies itself when use_regex is true (GPT-2's pattern).
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'); // u-mode allows escaping only these (not "-")
}

/**
 * Split with a regex, as the Rust `tokenizers` Split does: the text is cut into the pattern's leftmost matches
 * (empty matches included, as split points) and the gaps between them. `keepMatches`/`keepGaps` encode the
 * behaviour: Isolated keeps both, Removed drops the delimiters (the matches, or with invert the gaps).
 *
 * Fast path: a sticky copy of the regex tested at the current offset. When it matches there, the global search
 * would have found the same match (leftmost = here, same alternation order); `test` allocates no match array.
 */
function regexSplitter(source: string, keepMatches: boolean, keepGaps: boolean): PreTokenizer {
  const rg = new RegExp(source, 'gu');
  const ry = new RegExp(source, 'uy');
  return (text, emit) => {
    const n = text.length;
    let p = 0; // search position
    let prev = 0; // start of the not yet emitted gap
    while (p < n) {
      ry.lastIndex = p;
      if (ry.test(text)) {
        const e = ry.lastIndex;
        if (e > p) {
          if (p > prev && keepGaps) emit(prev, p);
          if (keepMatches) emit(p, e);
          p = prev = e;
          continue;
        }
      }
      rg.lastIndex = p;
      const m = rg.exec(text);
      if (m === null) break;
      const start = m.index;
      const len = m[0].length;
      if (start > prev && keepGaps) emit(prev, start);
      if (len > 0) {
        if (keepMatches) emit(start, start + len);
        p = start + len;
      } else {
        // Empty match: a split point; step over one code point.
        const cp = text.codePointAt(start)!;
        p = start + (cp > 0xffff ? 2 : 1);
      }
      prev = start + len;
    }
    if (prev < n && keepGaps) emit(prev, n);
  };
}

function buildSplit(n: Json): PreTokenizer {
  const pat = n.pattern as Json | undefined;
  let source: string;
  if (pat && typeof pat.Regex === 'string') source = compileOnig(pat.Regex).source;
  else if (pat && typeof pat.String === 'string') source = escapeRegExp(pat.String);
  else throw new UnsupportedComponentError('Split pre_tokenizer without a Regex or String pattern');
  const invert = n.invert === true;
  const behavior = String(n.behavior);
  switch (behavior) {
    case 'Isolated':
      return regexSplitter(source, true, true);
    case 'Removed':
      return invert ? regexSplitter(source, true, false) : regexSplitter(source, false, true);
    default:
      throw new UnsupportedComponentError(`unsupported Split behavior "${behavior}"`);
  }
}

/** Flattens the pre-tokenizer into its steps; a ByteLevel step without its own regex is implicit (BPE works on
 * bytes) and drops out. */
function preTokenizerSteps(node: unknown, steps: PreTokenizer[]): void {
  if (node === null || node === undefined) return;
  const n = node as Json;
  const t = typeOf(n, 'pre_tokenizer');
  switch (t) {
    case 'Sequence':
      for (const p of (n.pretokenizers as unknown[]) ?? []) preTokenizerSteps(p, steps);
      return;
    case 'Split':
      steps.push(buildSplit(n));
      return;
    case 'ByteLevel':
      if (n.add_prefix_space === true) {
        throw new UnsupportedComponentError('ByteLevel pre_tokenizer with add_prefix_space=true is not supported');
      }
      if (n.use_regex !== false) steps.push(regexSplitter(compileOnig(GPT2_PATTERN).source, true, true));
      return;
    default:
      throw new UnsupportedComponentError(`unsupported pre_tokenizer type "${t}"`);
  }
}

export function buildPreTokenizer(node: unknown): PreTokenizer {
  const steps: PreTokenizer[] = [];
  preTokenizerSteps(node, steps);
  if (steps.length === 0) {
    return (text, emit) => {
      if (text.length) emit(0, text.length);
    };
  }
  if (steps.length === 1) return steps[0];
  return (text, emit) => {
    // Later steps split each piece of the earlier ones; offsets stay relative to `text`.
    let ranges = [0, text.length];
    for (const step of steps) {
      const next: number[] = [];
      for (let i = 0; i < ranges.length; i += 2) {
        const s = ranges[i];
        step(text.slice(s, ranges[i + 1]), (a, b) => next.push(a + s, b + s));
      }
      ranges = next;
    }
    for (let i = 0; i < ranges.length; i += 2) emit(ranges[i], ranges[i + 1]);
  };
}

// ------------------------------------------------------------------------------------------ post-processor

/** Wraps the ids of one encoded sequence with the special tokens a post-processor adds. */
export type PostProcessor = (ids: number[]) => number[];

export function buildPostProcessor(node: unknown): PostProcessor | null {
  if (node === null || node === undefined) return null;
  const n = node as Json;
  const t = typeOf(n, 'post_processor');
  switch (t) {
    case 'ByteLevel':
      return null; // only adjusts offsets
    case 'TemplateProcessing': {
      const specials = (n.special_tokens ?? {}) as Record<string, { ids?: number[] }>;
      const single = (n.single ?? []) as Json[];
      const parts: (number[] | 'A')[] = single.map((piece) => {
        if (piece.Sequence) {
          const id = (piece.Sequence as Json).id;
          if (id !== 'A') throw new UnsupportedComponentError(`TemplateProcessing single template uses $${String(id)}`);
          return 'A';
        }
        if (piece.SpecialToken) {
          const name = String((piece.SpecialToken as Json).id);
          const ids = specials[name]?.ids;
          if (!Array.isArray(ids)) {
            throw new UnsupportedComponentError(`TemplateProcessing special token "${name}" has no ids`);
          }
          return ids.slice();
        }
        throw new UnsupportedComponentError('TemplateProcessing piece is neither Sequence nor SpecialToken');
      });
      return (ids) => {
        const out: number[] = [];
        for (const p of parts) {
          if (p === 'A') for (const id of ids) out.push(id);
          else for (const id of p) out.push(id);
        }
        return out;
      };
    }
    case 'Sequence': {
      const procs = ((n.processors as unknown[]) ?? []).map(buildPostProcessor).filter((p): p is PostProcessor => !!p);
      if (procs.length === 0) return null;
      return (ids) => procs.reduce((acc, p) => p(acc), ids);
    }
    default:
      throw new UnsupportedComponentError(`unsupported post_processor type "${t}"`);
  }
}
