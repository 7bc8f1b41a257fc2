// JSON parser that keeps what Python's `json.loads` keeps and `JSON.parse` loses: integral floats
// (`1.0` -> PyFloat), integers beyond 2^53 (-> bigint) and key order of integer-like keys
// (-> KEY_ORDER). Like Python it also accepts `NaN`, `Infinity` and `-Infinity`.
import { PyFloat, makeOrderedObject } from './python-values.js';

/** Thrown by `parseJsonLossless`; `position` is a UTF-16 offset into the input. */
export class JsonSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/** Parse JSON text the way Python's `json.loads` sees it (see module comment). */
export function parseJsonLossless(text: string): unknown {
  let pos = 0;
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, pos);
  };
  const skipWs = (): void => {
    while (pos < text.length && WS.has(text[pos]!)) pos++;
  };
  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail('Unterminated string');
      const ch = text.charCodeAt(pos);
      if (ch === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (ch < 0x20) fail('Invalid control character in string');
      if (ch === 0x5c) {
        out += text.slice(start, pos);
        const esc = text[pos + 1];
        if (esc === undefined) fail('Unterminated escape');
        if (esc === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('Invalid \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else {
          const rep = ESCAPES[esc!];
          if (rep === undefined) fail(`Invalid escape \\${esc}`);
          out += rep;
          pos += 2;
        }
        start = pos;
        continue;
      }
      pos++;
    }
  };
  const parseNumber = (): unknown => {
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail('Invalid number');
    pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    const f = Number(m[0]);
    return Number.isInteger(f) ? new PyFloat(f) : f;
  };
  const parseValue = (depth: number): unknown => {
    if (depth > 1000) fail('Nesting too deep');
    skipWs();
    const ch = text[pos];
    if (ch === '{') {
      pos++;
      const entries: [string, unknown][] = [];
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return makeOrderedObject(entries);
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail('Expected property name');
        const key = parseString();
        skipWs();
        if (text[pos] !== ':') fail("Expected ':'");
        pos++;
        entries.push([key, parseValue(depth + 1)]);
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return makeOrderedObject(entries);
        }
        fail("Expected ',' or '}'");
      }
    }
    if (ch === '[') {
      pos++;
      const items: unknown[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return items;
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return items;
        }
        fail("Expected ',' or ']'");
      }
    }
    if (ch === '"') return parseString();
    for (const [word, value] of WORDS) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return parseNumber();
    return fail(ch === undefined ? 'Unexpected end of input' : `Unexpected character '${ch}'`);
  };
  const value = parseValue(0);
  skipWs();
  if (pos < text.length) fail('Unexpected data after JSON value');
  return value;
}

const WORDS: [string, unknown][] = [
  ['true', true],
  ['false', false],
  ['null', null],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
];
