// Added-token extraction: finds added tokens (special or not) in raw text before normalization and BPE, with the
// semantics of the Rust `tokenizers` AddedVocabulary: leftmost-longest, non-overlapping matches; a match that is
// skipped (a special token while special-token parsing is off, or a single_word token inside a word) stays plain
// text and the search resumes after it; lstrip/rstrip swallow neighbouring whitespace into the token.

export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  normalized: boolean;
}

/** A piece of input: either plain text (id -1) or one added token. */
export interface Segment {
  text: string;
  id: number;
}

interface TrieNode {
  next: Map<number, TrieNode>;
  token: AddedTokenSpec | null;
}

const WORD_END = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;
const WORD_START = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE_AT_END = /\p{White_Space}*$/u;
const SPACE_AT_START = /^\p{White_Space}*/u;

/** Leftmost-longest matcher over a fixed set of added tokens. */
export class AddedTokenMatcher {
  private readonly root: TrieNode = { next: new Map(), token: null };
  /** 1 for UTF-16 code units that start some token: the scan skips everything else without a map lookup. */
  private readonly first = new Uint8Array(65536);
  readonly size: number;

  constructor(tokens: readonly AddedTokenSpec[]) {
    for (const t of tokens) {
      if (t.content === '') continue;
      let node = this.root;
      this.first[t.content.charCodeAt(0)] = 1;
      for (let i = 0; i < t.content.length; i++) {
        const c = t.content.charCodeAt(i);
        let nx = node.next.get(c);
        if (!nx) {
          nx = { next: new Map(), token: null };
          node.next.set(c, nx);
        }
        node = nx;
      }
      node.token = t;
    }
    this.size = tokens.length;
  }

  /** Longest token starting at `pos`, with its end offset. */
  private longestAt(text: string, pos: number): [AddedTokenSpec, number] | null {
    let node: TrieNode | undefined = this.root;
    let best: [AddedTokenSpec, number] | null = null;
    for (let i = pos; i < text.length; i++) {
      node = node.next.get(text.charCodeAt(i));
      if (!node) break;
      if (node.token) best = [node.token, i + 1];
    }
    return best;
  }

  /**
   * Splits text into plain segments and added-token segments, appending to `out`.
   * When `parseSpecial` is false, special tokens are left as plain text (non-special added tokens still match).
   */
  split(text: string, parseSpecial: boolean, out: Segment[]): void {
    if (this.size === 0 || text.length === 0) {
      if (text.length) out.push({ text, id: -1 });
      return;
    }
    const first = this.first;
    let emitted = 0; // text before this offset is already in `out`
    let pos = 0;
    while (pos < text.length) {
      if (first[text.charCodeAt(pos)] === 0) {
        pos++;
        continue;
      }
      const m = this.longestAt(text, pos);
      if (!m) {
        pos++;
        continue;
      }
      const [tok, end] = m;
      let start = pos;
      let stop = end;
      pos = end;
      if (!parseSpecial && tok.special) continue;
      if (tok.singleWord) {
        const startOk = start === 0 || !WORD_END.test(text.slice(Math.max(0, start - 2), start));
        const stopOk = stop === text.length || !WORD_START.test(text.slice(stop, stop + 2));
        if (!startOk || !stopOk) continue;
      }
      if (tok.lstrip) {
        const before = text.slice(emitted, start);
        start = emitted + (SPACE_AT_END.exec(before)?.index ?? before.length);
      }
      if (tok.rstrip) {
        stop += SPACE_AT_START.exec(text.slice(stop))?.[0].length ?? 0;
        pos = stop;
      }
      if (start > emitted) out.push({ text: text.slice(emitted, start), id: -1 });
      out.push({ text: text.slice(start, stop), id: tok.id });
      emitted = stop;
    }
    if (emitted < text.length) out.push({ text: text.slice(emitted), id: -1 });
  }
}
