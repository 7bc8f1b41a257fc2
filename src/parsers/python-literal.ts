// A small parser for Python literals (dict, list, tuple, str, int, float, True/False/None), the
// fallback vLLM's qwen3_coder parser uses (`ast.literal_eval`) when an object/array parameter value
// is not JSON, e.g. `{'a': True}`. Returns JS stand-ins (see src/template/python-values.ts).
import { PyFloat, makeOrderedObject } from '../template/python-values.js';

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
  v: '\v',
  a: '\x07',
  '0': '\0',
  '\n': '',
};

/** Parse a Python literal; returns `undefined` when `text` is not one. */
export function parsePythonLiteral(text: string): unknown {
  let pos = 0;
  const fail = (): never => {
    throw new SyntaxError('not a Python literal');
  };
  const ws = (): void => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  const str = (): string => {
    const q = text[pos]!;
    const triple = text.startsWith(q.repeat(3), pos);
    const close = triple ? q.repeat(3) : q;
    pos += close.length;
    let out = '';
    for (;;) {
      if (pos >= text.length) fail();
      if (text.startsWith(close, pos)) {
        pos += close.length;
        return out;
      }
      const ch = text[pos]!;
      if (ch === '\n' && !triple) fail();
      if (ch !== '\\') {
        out += ch;
        pos++;
        continue;
      }
      const e = text[pos + 1] ?? fail();
      const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (width) {
        const hex = text.slice(pos + 2, pos + 2 + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) fail();
        out += String.fromCodePoint(parseInt(hex, 16));
        pos += 2 + width;
      } else if (e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
        pos += 2;
      } else {
        out += '\\' + e; // Python keeps unknown escapes verbatim
        pos += 2;
      }
    }
  };
  const seq = (closer: string): unknown[] => {
    const items: unknown[] = [];
    for (;;) {
      ws();
      if (text[pos] === closer) {
        pos++;
        return items;
      }
      items.push(value());
      ws();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== closer) fail();
    }
  };
  const value = (): unknown => {
    ws();
    const ch = text[pos];
    if (ch === '{') {
      pos++;
      const entries: [string, unknown][] = [];
      for (;;) {
        ws();
        if (text[pos] === '}') {
          pos++;
          return makeOrderedObject(entries);
        }
        const key = value();
        if (typeof key !== 'string' && typeof key !== 'number') fail();
        ws();
        if (text[pos] !== ':') fail();
        pos++;
        entries.push([String(key), value()]);
        ws();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== '}') fail();
      }
    }
    if (ch === '[') {
      pos++;
      return seq(']');
    }
    if (ch === '(') {
      pos++;
      return seq(')');
    }
    if (ch === "'" || ch === '"') return str();
    for (const [word, v] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (text.startsWith(word, pos) && !/\w/.test(text[pos + word.length] ?? '')) {
        pos += word.length;
        return v;
      }
    }
    const m = /^[+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(pos));
    if (!m) return fail();
    pos += m[0].length;
    const lit = m[0].replace(/_/g, '');
    if (/^[+-]?\d+$/.test(lit)) {
      const n = Number(lit);
      return Number.isSafeInteger(n) ? n : BigInt(lit);
    }
    const f = Number(lit);
    return Number.isInteger(f) ? new PyFloat(f) : f;
  };
  try {
    const v = value();
    ws();
    return pos === text.length ? v : undefined;
  } catch {
    return undefined;
  }
}
