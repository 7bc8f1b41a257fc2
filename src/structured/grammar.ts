/**
 * An incremental, byte-level JSON grammar: immutable states that consume one UTF-8 byte at a time, so a
 * token's bytes can be tried against a state without disturbing it (the token mask walks a vocabulary trie
 * from one state). Grammar nodes (literal, string, number, array, object, choice) are built from a JSON
 * schema by schema.ts; each node starts in front of a continuation state (continuation-passing), so a
 * node's end hands over to whatever follows it. Not a general grammar engine: JSON only.
 */

/** A position in the grammar. */
export interface State {
  /** The state after byte `b`, or null when `b` is not allowed here. */
  step(b: number): State | null;
  /** True when the input may end here. */
  readonly accept: boolean;
  /** Fewest further bytes that reach an accepting state (used to close output before max_tokens). */
  readonly min: number;
  /**
   * True inside an unbounded JSON string between characters: every token of plain text (complete UTF-8, no
   * quote, backslash or control byte) is allowed and leaves `min` unchanged. Lets the token mask skip
   * walking the bulk of the vocabulary.
   */
  readonly plain?: boolean;
}

/** The state after the whole value: nothing more may come. */
export const END: State = { step: () => null, accept: true, min: 0 };

/** A grammar node: `start(k)` is the state in front of the node, followed by continuation `k`. */
export abstract class Node {
  /** Shortest encoding in bytes (Infinity until computed; see `settleMinLengths`). */
  minLen = Infinity;
  abstract start(k: State): State;
  /** Recomputes minLen from the children's current values. */
  abstract computeMin(): number;
}

/** Fixpoint over possibly recursive nodes ($ref) so every minLen is the true shortest length. */
export function settleMinLengths(nodes: Iterable<Node>): void {
  const all = [...nodes];
  for (let iter = 0; iter < 1000; iter++) {
    let changed = false;
    for (const n of all) {
      const m = n.computeMin();
      if (m < n.minLen) {
        n.minLen = m;
        changed = true;
      }
    }
    if (!changed) return;
  }
}

// no \r: a model must not be able to fill a gap with carriage returns
const isWs = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x09;
/** Whitespace bytes allowed between two JSON tokens (bounded so output cannot stall in blanks). */
export const MAX_WS = 16;

/** Optional whitespace, then `k`. `k` must not itself start with whitespace. */
export function ws(k: State, used = 0): State {
  return {
    step: (b) => (isWs(b) ? (used < MAX_WS ? ws(k, used + 1) : null) : k.step(b)),
    accept: k.accept,
    min: k.min,
  };
}

/** Any of several states (alternatives that share a prefix, e.g. enum strings or anyOf branches). */
export function union(states: State[]): State | null {
  const live = states.filter((s): s is State => s !== null);
  if (live.length === 0) return null;
  if (live.length === 1) return live[0];
  let min = Infinity;
  let accept = false;
  for (const s of live) {
    min = Math.min(min, s.min);
    accept ||= s.accept;
  }
  return {
    step: (b) => union(live.map((s) => s.step(b)).filter((s): s is State => s !== null)),
    accept,
    min,
  };
}

/** An exact byte string (JSON keywords, const/enum values, punctuation). */
export class LiteralNode extends Node {
  readonly bytes: Uint8Array;
  constructor(text: string) {
    super();
    this.bytes = new TextEncoder().encode(text);
  }
  computeMin(): number {
    return this.bytes.length;
  }
  start(k: State): State {
    return this.at(0, k);
  }
  private at(i: number, k: State): State {
    if (i === this.bytes.length) return k;
    return {
      step: (b) => (b === this.bytes[i] ? this.at(i + 1, k) : null),
      accept: false,
      min: this.bytes.length - i + k.min,
    };
  }
}

/** One of several nodes. */
export class ChoiceNode extends Node {
  constructor(readonly options: Node[]) {
    super();
  }
  computeMin(): number {
    return Math.min(...this.options.map((o) => o.minLen));
  }
  start(k: State): State {
    // options whose minimal length is infinite (unsatisfiable recursion) are left out
    const s = union(this.options.filter((o) => Number.isFinite(o.minLen)).map((o) => o.start(k)));
    if (!s) throw new Error('choice without a usable option');
    return s;
  }
}

/** A JSON string with optional length limits (in characters; an escape counts as one). */
export class StringNode extends Node {
  constructor(
    readonly minLength = 0,
    readonly maxLength = Infinity,
  ) {
    super();
  }
  computeMin(): number {
    return 2 + this.minLength;
  }
  start(k: State): State {
    return { step: (b) => (b === 0x22 ? this.body(0, k) : null), accept: false, min: this.minLen + k.min };
  }
  /** Inside the quotes, `count` characters so far, between characters. */
  private body(count: number, k: State): State {
    const canAdd = count < this.maxLength;
    return {
      step: (b) => {
        if (b === 0x22) return count >= this.minLength ? k : null;
        if (!canAdd || b < 0x20) return null;
        if (b === 0x5c) return this.escape(count, k);
        if (b < 0x80) return this.body(count + 1, k);
        // UTF-8 lead byte: the first continuation byte's range excludes overlongs and surrogates
        if (b >= 0xc2 && b <= 0xdf) return this.cont(count, 1, 0x80, 0xbf, k);
        if (b === 0xe0) return this.cont(count, 2, 0xa0, 0xbf, k);
        if (b === 0xed) return this.cont(count, 2, 0x80, 0x9f, k);
        if (b >= 0xe1 && b <= 0xef) return this.cont(count, 2, 0x80, 0xbf, k);
        if (b === 0xf0) return this.cont(count, 3, 0x90, 0xbf, k);
        if (b >= 0xf1 && b <= 0xf3) return this.cont(count, 3, 0x80, 0xbf, k);
        if (b === 0xf4) return this.cont(count, 3, 0x80, 0x8f, k);
        return null;
      },
      accept: false,
      min: 1 + Math.max(0, this.minLength - count) + k.min,
      plain: this.minLength === 0 && this.maxLength === Infinity,
    };
  }
  private cont(count: number, left: number, lo: number, hi: number, k: State): State {
    return {
      step: (b) => (b >= lo && b <= hi ? (left === 1 ? this.body(count + 1, k) : this.cont(count, left - 1, 0x80, 0xbf, k)) : null),
      accept: false,
      min: left + 1 + Math.max(0, this.minLength - count - 1) + k.min,
    };
  }
  private escape(count: number, k: State): State {
    return {
      step: (b) => {
        if ('"\\/bfnrt'.includes(String.fromCharCode(b))) return this.body(count + 1, k);
        if (b === 0x75) return this.hex(count, 4, k); // \uXXXX
        return null;
      },
      accept: false,
      min: 2 + Math.max(0, this.minLength - count - 1) + k.min,
    };
  }
  private hex(count: number, left: number, k: State): State {
    return {
      step: (b) => (/[0-9a-fA-F]/.test(String.fromCharCode(b)) ? (left === 1 ? this.body(count + 1, k) : this.hex(count, left - 1, k)) : null),
      accept: false,
      min: left + 1 + Math.max(0, this.minLength - count - 1) + k.min,
    };
  }
}

/** Numeric limits of a number node (JSON-schema semantics). */
export interface NumberBounds {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

/** Most digits in an integer part / exponent: keeps values finite and exact in a double. */
const MAX_INT_DIGITS = 15;
const MAX_FRAC_DIGITS = 16;
const MAX_EXP_DIGITS = 2;

type NumPart = 'sign' | 'int' | 'zero' | 'dot' | 'frac' | 'e' | 'esign' | 'exp';

/**
 * A JSON number (`integer` forbids fraction and exponent). Bounds are enforced on the integer part while
 * digits are typed (no prefix that cannot reach the range) and on the whole value when it ends.
 */
export class NumberNode extends Node {
  private readonly lo: number;
  private readonly hi: number;
  constructor(
    readonly integer: boolean,
    readonly bounds: NumberBounds = {},
  ) {
    super();
    const lo = Math.max(bounds.minimum ?? -Infinity, bounds.exclusiveMinimum ?? -Infinity);
    const hi = Math.min(bounds.maximum ?? Infinity, bounds.exclusiveMaximum ?? Infinity);
    // integer-part range that can still hold a valid value
    this.lo = integer ? Math.ceil(lo) : Math.floor(lo);
    this.hi = integer ? Math.floor(hi) : Math.ceil(hi);
    if (integer && bounds.exclusiveMinimum !== undefined && Number.isInteger(bounds.exclusiveMinimum) && this.lo === bounds.exclusiveMinimum) this.lo++;
    if (integer && bounds.exclusiveMaximum !== undefined && Number.isInteger(bounds.exclusiveMaximum) && this.hi === bounds.exclusiveMaximum) this.hi--;
    if (this.lo > this.hi) throw new RangeError('the numeric range is empty');
  }
  computeMin(): number {
    return this.extraDigits('', false) ?? Infinity;
  }
  start(k: State): State {
    return this.at('sign', '', 0, k);
  }

  private inRange(text: string): boolean {
    const v = Number(text);
    const b = this.bounds;
    if (!Number.isFinite(v)) return false;
    if (b.minimum !== undefined && v < b.minimum) return false;
    if (b.maximum !== undefined && v > b.maximum) return false;
    if (b.exclusiveMinimum !== undefined && v <= b.exclusiveMinimum) return false;
    if (b.exclusiveMaximum !== undefined && v >= b.exclusiveMaximum) return false;
    return true;
  }

  /** Fewest digits to append to integer part `digits` (sign `neg`) to land in [lo, hi]; null if impossible. */
  private extraDigits(digits: string, neg: boolean): number | null {
    const fits = (a: number, b: number): boolean => (neg ? -b <= this.hi && -a >= this.lo : a <= this.hi && b >= this.lo);
    if (digits === '') {
      if (fits(0, 0)) return 1;
      for (let n = 1; n <= MAX_INT_DIGITS; n++) if (fits(10 ** (n - 1), 10 ** n - 1)) return n;
      return null;
    }
    if (digits === '0') return fits(0, 0) ? 0 : null;
    const d = Number(digits);
    for (let add = 0; digits.length + add <= MAX_INT_DIGITS; add++) {
      if (fits(d * 10 ** add, d * 10 ** add + 10 ** add - 1)) return add;
    }
    return null;
  }

  /** `text` so far; `n` digits in the current part (integer, fraction or exponent). */
  private at(part: NumPart, text: string, n: number, k: State): State {
    const neg = text.startsWith('-');
    const digits = part === 'sign' || part === 'int' || part === 'zero' ? text.slice(neg ? 1 : 0) : '';
    const complete = (part === 'int' || part === 'zero' || part === 'frac' || part === 'exp') && this.inRange(text);
    let own = 1;
    if (complete) own = 0;
    else if (part === 'sign' || part === 'int') own = Math.max(1, this.extraDigits(digits, neg) ?? 1);
    return {
      step: (b) => {
        const c = String.fromCharCode(b);
        const isDigit = b >= 0x30 && b <= 0x39;
        switch (part) {
          case 'sign':
            if (c === '-') return text === '' && this.lo < 0 ? this.at('sign', '-', 0, k) : null;
            if (c === '0') return this.extraDigits('0', neg) !== null ? this.at('zero', text + c, 1, k) : null;
            if (isDigit) return this.extraDigits(c, neg) !== null ? this.at('int', text + c, 1, k) : null;
            return null;
          case 'int':
            if (isDigit) return n < MAX_INT_DIGITS && this.extraDigits(digits + c, neg) !== null ? this.at('int', text + c, n + 1, k) : null;
            return this.afterInt(c, b, text, complete, k);
          case 'zero':
            if (isDigit) return null;
            return this.afterInt(c, b, text, complete, k);
          case 'dot':
            return isDigit ? this.at('frac', text + c, 1, k) : null;
          case 'frac':
            if (isDigit) return n < MAX_FRAC_DIGITS ? this.at('frac', text + c, n + 1, k) : null;
            if (c === 'e' || c === 'E') return this.at('e', text + c, 0, k);
            return complete ? k.step(b) : null;
          case 'e':
            if (c === '+' || c === '-') return this.at('esign', text + c, 0, k);
            return isDigit ? this.at('exp', text + c, 1, k) : null;
          case 'esign':
            return isDigit ? this.at('exp', text + c, 1, k) : null;
          case 'exp':
            if (isDigit) return n < MAX_EXP_DIGITS ? this.at('exp', text + c, n + 1, k) : null;
            return complete ? k.step(b) : null;
        }
      },
      accept: complete && k.accept,
      min: own + k.min,
    };
  }

  private afterInt(c: string, b: number, text: string, complete: boolean, k: State): State | null {
    if (!this.integer && c === '.') return this.at('dot', text + c, 0, k);
    if (!this.integer && (c === 'e' || c === 'E')) return this.at('e', text + c, 0, k);
    return complete ? k.step(b) : null;
  }
}

/** A JSON array of `items` with optional count limits. */
export class ArrayNode extends Node {
  constructor(
    readonly items: Node,
    readonly minItems = 0,
    readonly maxItems = Infinity,
  ) {
    super();
  }
  computeMin(): number {
    if (this.minItems === 0) return 2;
    return 2 + this.minItems * this.items.minLen + (this.minItems - 1);
  }
  start(k: State): State {
    return { step: (b) => (b === 0x5b ? ws(this.afterOpen(k)) : null), accept: false, min: this.minLen + k.min };
  }
  private close(k: State): State {
    return { step: (b) => (b === 0x5d ? k : null), accept: false, min: 1 + k.min };
  }
  private restMin(count: number): number {
    const more = Math.max(0, this.minItems - count);
    return more * (this.items.minLen + 1) + 1;
  }
  private afterOpen(k: State): State {
    const opts: State[] = [];
    if (this.minItems === 0) opts.push(this.close(k));
    if (this.maxItems > 0) opts.push(this.items.start(ws(this.afterItem(1, k))));
    return union(opts)!;
  }
  private afterItem(count: number, k: State): State {
    return {
      step: (b) => {
        if (b === 0x5d) return count >= this.minItems ? k : null;
        if (b === 0x2c && count < this.maxItems) return ws(this.items.start(ws(this.afterItem(count + 1, k))));
        return null;
      },
      accept: false,
      min: this.restMin(count) + k.min,
    };
  }
}

/** One property of an object node. */
export interface PropertySpec {
  key: string;
  value: Node;
  required: boolean;
}

/**
 * A JSON object. With `properties`, keys come in the given order; optional ones may be left out; no other
 * keys. With `additional` instead, any string keys with that value type (json_object mode).
 */
export class ObjectNode extends Node {
  private readonly keys: LiteralNode[];
  private readonly anyKey = new StringNode();
  constructor(
    readonly properties: PropertySpec[],
    readonly additional: Node | null = null,
  ) {
    super();
    this.keys = properties.map((p) => new LiteralNode(JSON.stringify(p.key)));
    this.anyKey.minLen = 2;
  }
  computeMin(): number {
    if (this.additional) return 2;
    const req = this.properties.filter((p) => p.required);
    if (req.length === 0) return 2;
    return 2 + req.reduce((a, p) => a + JSON.stringify(p.key).length + 1 + p.value.minLen, 0) + (req.length - 1);
  }
  start(k: State): State {
    return { step: (b) => (b === 0x7b ? ws(this.expectKey(0, true, k)) : null), accept: false, min: this.minLen + k.min };
  }
  /** Bytes still needed after property i-1 (the remaining required ones, commas and `}`). */
  private restMin(i: number): number {
    let m = 1;
    for (let j = i; j < this.properties.length; j++) {
      const p = this.properties[j];
      if (p.required) m += 1 + JSON.stringify(p.key).length + 1 + p.value.minLen;
    }
    return m;
  }
  private close(k: State): State {
    return { step: (b) => (b === 0x7d ? k : null), accept: false, min: 1 + k.min };
  }
  /** In front of the next key (i = first property that may come), or `}`. */
  private expectKey(i: number, first: boolean, k: State): State {
    if (this.additional) {
      const entry = this.anyKey.start(ws(this.colon(this.additional, ws(this.afterValueAny(k)))));
      return first ? union([this.close(k), entry])! : entry;
    }
    const opts: State[] = [];
    let j = i;
    for (; j < this.properties.length; j++) {
      const p = this.properties[j];
      opts.push(this.keys[j].start(ws(this.colon(p.value, ws(this.afterValue(j + 1, k))))));
      if (p.required) break;
    }
    if (j === this.properties.length && first) opts.push(this.close(k));
    if (opts.length === 0) return this.close(k); // unreachable: a comma is only allowed when a key may follow
    return union(opts)!;
  }
  private colon(value: Node, k: State): State {
    return { step: (b) => (b === 0x3a ? ws(value.start(k)) : null), accept: false, min: 1 + value.minLen + k.min };
  }
  private afterValue(next: number, k: State): State {
    const anyLeft = next < this.properties.length;
    const requiredLeft = this.properties.slice(next).some((p) => p.required);
    return {
      step: (b) => {
        if (b === 0x7d) return requiredLeft ? null : k;
        if (b === 0x2c && anyLeft) return ws(this.expectKey(next, false, k));
        return null;
      },
      accept: false,
      min: this.restMin(next) + k.min,
    };
  }
  private afterValueAny(k: State): State {
    return {
      step: (b) => (b === 0x7d ? k : b === 0x2c ? ws(this.expectKey(0, false, k)) : null),
      accept: false,
      min: 1 + k.min,
    };
  }
}

/** A node defined later (for $ref and recursion); `target` is set once the referenced node exists. */
export class RefNode extends Node {
  target: Node | null = null;
  computeMin(): number {
    return this.target ? this.target.minLen : Infinity;
  }
  start(k: State): State {
    if (!this.target) throw new Error('unresolved reference');
    return this.target.start(k);
  }
}

/** Runs `bytes` from `state`; null when they leave the grammar. */
export function advance(state: State, bytes: Uint8Array): State | null {
  let s: State | null = state;
  for (let i = 0; i < bytes.length && s; i++) s = s.step(bytes[i]);
  return s;
}
