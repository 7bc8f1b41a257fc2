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
      return (s) => s.toLowerCase();
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

/** Splits one text piece into words, appending them to `out`. */
export type PreTokenizer = (text: string, out: string[]) => void;

// The regex ByteLevel applies itself when use_regex is true (GPT-2's pattern).
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * Split with a regex. `keepMatches`/`keepGaps` encode the behaviour: the pieces the pattern matches are the
 * "delimiters" (or, with invert, the gaps are); Isolated keeps every piece, Removed drops the delimiters.
 */
function regexSplitter(re: RegExp, keepMatches: boolean, keepGaps: boolean): PreTokenizer {
  return (text, out) => {
    re.lastIndex = 0;
    let prev = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      const start = m.index;
      const len = m[0].length;
      if (start > prev && keepGaps) out.push(text.slice(prev, start));
      if (len > 0) {
        if (keepMatches) out.push(m[0]);
      } else {
        // Empty match: still a split point; step over one code point.
        const cp = text.codePointAt(start);
        re.lastIndex = start + (cp !== undefined && cp > 0xffff ? 2 : 1);
      }
      prev = start + len;
    }
    if (prev < text.length && keepGaps) out.push(text.slice(prev));
  };
}

function buildSplit(n: Json): PreTokenizer {
  const pat = n.pattern as Json | undefined;
  let re: RegExp;
  if (pat && typeof pat.Regex === 'string') re = compileOnig(pat.Regex);
  else if (pat && typeof pat.String === 'string') re = new RegExp(escapeRegExp(pat.String), 'gu');
  else throw new UnsupportedComponentError('Split pre_tokenizer without a Regex or String pattern');
  const invert = n.invert === true;
  const behavior = String(n.behavior);
  switch (behavior) {
    case 'Isolated':
      return regexSplitter(re, true, true);
    case 'Removed':
      return invert ? regexSplitter(re, true, false) : regexSplitter(re, false, true);
    default:
      throw new UnsupportedComponentError(`unsupported Split behavior "${behavior}"`);
  }
}

/** Flattens the pre-tokenizer into its steps; a ByteLevel step without its own regex is implicit (BPE works on
 * bytes) and drops out. Returns null when no splitting happens at all. */
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
      if (n.use_regex !== false) steps.push(regexSplitter(compileOnig(GPT2_PATTERN), true, true));
      return;
    default:
      throw new UnsupportedComponentError(`unsupported pre_tokenizer type "${t}"`);
  }
}

export function buildPreTokenizer(node: unknown): PreTokenizer {
  const steps: PreTokenizer[] = [];
  preTokenizerSteps(node, steps);
  if (steps.length === 0) return (text, out) => void (text.length && out.push(text));
  if (steps.length === 1) return steps[0];
  return (text, out) => {
    let pieces = [text];
    for (const step of steps) {
      const next: string[] = [];
      for (const p of pieces) step(p, next);
      pieces = next;
    }
    for (const p of pieces) out.push(p);
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
