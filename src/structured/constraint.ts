/**
 * Constrained decoding as an engine logits processor: before each sampling step, every token whose bytes
 * would leave the grammar is masked to -Infinity (a walk of a byte trie of the vocabulary from the current
 * grammar state), and the stop tokens are allowed only where the JSON is complete. Reasoning-aware: when the
 * prompt leaves a `<think>` block open, the constraint starts after `</think>`. Length-aware: when the tokens
 * left (max_tokens) are just enough to finish, only tokens on a shortest path to a complete value remain, so
 * the answer is valid JSON and ends with a stop token instead of being cut off (when max_tokens allows the
 * shortest value at all).
 */
import type { LogitsProcessor } from '../engine/engine.js';
import { END, type Node, type State, ws } from './grammar.js';

interface TrieNode {
  children: Map<number, TrieNode>;
  ids: number[];
}

/** What the constraint needs from a tokenizer. */
export interface TokenSource {
  readonly vocabSize: number;
  idBytes(id: number, skipSpecial: boolean): Uint8Array | undefined;
  readonly addedTokens: readonly { id: number }[];
}

/** The vocabulary as a byte trie (ordinary tokens only: added/special tokens never appear inside JSON). */
export class VocabIndex {
  readonly root: TrieNode = { children: new Map(), ids: [] };
  /** The tokens that are not plain string text (see State.plain). */
  readonly rest: TrieNode = { children: new Map(), ids: [] };
  /** Tokens of plain JSON-string text: complete UTF-8, no quote, backslash or control bytes. */
  readonly plainIds: number[] = [];
  private readonly bytes: (Uint8Array | undefined)[] = [];

  constructor(readonly tokens: TokenSource) {
    const added = new Set(tokens.addedTokens.map((t) => t.id));
    for (let id = 0; id < tokens.vocabSize; id++) {
      const b = tokens.idBytes(id, false);
      this.bytes[id] = b;
      if (!b || b.length === 0 || added.has(id)) continue;
      insert(this.root, b, id);
      if (isPlain(b)) this.plainIds.push(id);
      else insert(this.rest, b, id);
    }
  }

  /** Bytes a token decodes to (special tokens as their text); empty for unknown ids. */
  bytesOf(id: number): Uint8Array {
    return this.bytes[id] ?? new Uint8Array();
  }

  /**
   * Ordinary tokens allowed from `state` whose end state can still be completed within `budget` bytes
   * (Infinity = no limit). With `shortest`, only tokens on a shortest path to a complete value.
   */
  allowed(state: State, budget = Infinity, shortest = false): number[] {
    const out: number[] = [];
    if (state.plain && !shortest) {
      // plain text keeps the state (and its min): take those tokens wholesale, walk only the others
      if (state.min <= budget) for (const id of this.plainIds) out.push(id);
      walkFrom(this.rest, state, budget, out, false);
      return out;
    }
    walkFrom(this.root, state, budget, out, shortest);
    return out;
  }
}

function walkFrom(root: TrieNode, state: State, budget: number, out: number[], shortest: boolean): void {
  const walk = (node: TrieNode, s: State): void => {
    for (const [b, child] of node.children) {
      const next = s.step(b);
      if (!next) continue;
      if (shortest && next.min !== s.min - 1) continue;
      if (next.min <= budget) for (const id of child.ids) out.push(id);
      if (child.children.size) walk(child, next);
    }
  };
  walk(root, state);
}

function insert(root: TrieNode, bytes: Uint8Array, id: number): void {
  let node = root;
  for (const byte of bytes) {
    let next = node.children.get(byte);
    if (!next) {
      next = { children: new Map(), ids: [] };
      node.children.set(byte, next);
    }
    node = next;
  }
  node.ids.push(id);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Whether a token is plain JSON-string text (see State.plain). */
function isPlain(b: Uint8Array): boolean {
  for (const x of b) if (x < 0x20 || x === 0x22 || x === 0x5c) return false;
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

export interface ConstraintOptions {
  grammar: Node;
  vocab: VocabIndex;
  /** Tokens that end generation (allowed once the value is complete). */
  stopIds: readonly number[];
  maxTokens: number;
  /** Set when the prompt leaves a reasoning block open: the constraint starts after `</think>`. */
  reasoning?: { thinkEndId: number | undefined } | null;
}

const THINK_END = new TextEncoder().encode('</think>');

/** Index of `pat` in `hay`, or -1. */
function indexOfBytes(hay: number[], pat: Uint8Array): number {
  outer: for (let i = 0; i + pat.length <= hay.length; i++) {
    for (let j = 0; j < pat.length; j++) if (hay[i + j] !== pat[j]) continue outer;
    return i;
  }
  return -1;
}

/** A logits processor that keeps generation inside `grammar` (see module comment). */
export function grammarConstraint(opts: ConstraintOptions): LogitsProcessor {
  const start = (): State => ws(opts.grammar.start(END));
  const stops = new Set(opts.stopIds);
  let phase: 'reasoning' | 'json' | 'off' = opts.reasoning ? 'reasoning' : 'json';
  let state: State = start();
  let consumed = 0;
  let tail: number[] = [];
  const initialMin = state.min;

  const feedJson = (bytes: Uint8Array | number[]): void => {
    let s: State | null = state;
    for (let i = 0; i < bytes.length && s; i++) s = s.step(bytes[i]);
    if (s) state = s;
    else phase = 'off'; // cannot happen for tokens we allowed; never mask blindly after a divergence
  };

  return (generated, logits) => {
    for (; consumed < generated.length; consumed++) {
      const t = generated[consumed];
      if (phase === 'reasoning') {
        tail.push(...opts.vocab.bytesOf(t));
        const at = indexOfBytes(tail, THINK_END);
        if (at >= 0) {
          phase = 'json';
          feedJson(tail.slice(at + THINK_END.length));
          tail = [];
        } else if (tail.length > 64) tail = tail.slice(-16);
      } else if (phase === 'json' && !stops.has(t)) feedJson(opts.vocab.bytesOf(t));
    }
    if (phase === 'off') return;
    const left = opts.maxTokens - generated.length; // tokens still to come, this one included
    if (phase === 'reasoning') {
      // close the reasoning block while the JSON (+ a stop token) still fits
      const id = opts.reasoning?.thinkEndId;
      if (id !== undefined && left <= initialMin + 2) forceOnly(logits, [id]);
      return;
    }
    // after this token, left - 1 tokens remain and one of them must be a stop token; one byte per token
    // is always possible (byte tokens), so a token is safe when its end state needs at most left - 2 bytes
    let allowed = opts.vocab.allowed(state, left - 2);
    if (allowed.length === 0 && !state.accept) allowed = opts.vocab.allowed(state, Infinity, true); // too late: best effort
    if (state.accept || allowed.length === 0) allowed = allowed.concat([...stops]);
    forceOnly(logits, allowed);
  };
}

/** Masks every logit except `ids` to -Infinity. */
function forceOnly(logits: Float32Array, ids: readonly number[]): void {
  const keep = new Float32Array(ids.length);
  ids.forEach((id, i) => (keep[i] = id < logits.length ? logits[id] : -Infinity));
  const anyFinite = keep.some((v) => Number.isFinite(v));
  logits.fill(-Infinity);
  ids.forEach((id, i) => {
    if (id < logits.length) logits[id] = anyFinite ? (Number.isNaN(keep[i]) ? -Infinity : keep[i]) : 0;
  });
}
