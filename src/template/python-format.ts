// Python's str(), repr(), json.dumps() and str.strip() over JS stand-ins for Python values
// (see python-values.ts). Chat templates print tool schemas and arguments through these, so they
// must match CPython byte for byte; test/template/python-format.test.ts checks them against output
// recorded from CPython by scripts/template/make_goldens.py.
import { PY_UNDEFINED, PyFloat, PyTuple, isPlainObject, orderedEntries } from './python-values.js';

/** Python's `repr(float)` (shortest round-trip digits; exponent form outside 1e-4 <= |x| < 1e16). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument yields the shortest digits that round-trip, like Python.
  const [mant, expStr] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(expStr);
  const decpt = exp + 1; // position of the decimal point relative to the digit string
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
    if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
    return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp);
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
}

/** Python's `str.isspace()` for one code point. */
export function isPySpace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) ||
    (cp >= 0x1c && cp <= 0x20) ||
    cp === 0x85 ||
    cp === 0xa0 ||
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** Python's `str.strip/lstrip/rstrip(chars)`; `chars` undefined/null means Unicode whitespace. */
export function pyStrip(s: string, chars?: string | null, mode: 'both' | 'left' | 'right' = 'both'): string {
  const cps = Array.from(s);
  const set = chars == null ? null : new Set(Array.from(chars));
  const strippable = (c: string): boolean => (set ? set.has(c) : isPySpace(c.codePointAt(0)!));
  let start = 0;
  let end = cps.length;
  if (mode !== 'right') while (start < end && strippable(cps[start]!)) start++;
  if (mode !== 'left') while (end > start && strippable(cps[end - 1]!)) end--;
  return cps.slice(start, end).join('');
}

const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, '0');
}

/** Python's `repr(str)`. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + hex(cp, 2);
    else if (cp < 0x7f) out += ch;
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      out += cp <= 0xff ? '\\x' + hex(cp, 2) : cp <= 0xffff ? '\\u' + hex(cp, 4) : '\\U' + hex(cp, 8);
    } else out += ch;
  }
  return out + quote;
}

type PyKind = 'undefined' | 'none' | 'bool' | 'int' | 'float' | 'str' | 'list' | 'tuple' | 'dict' | 'other';

/** Which Python type a JS stand-in represents. */
export function pyKind(v: unknown): PyKind {
  if (v === undefined || v === PY_UNDEFINED) return 'undefined';
  if (v === null) return 'none';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'string':
      return 'str';
  }
  if (v instanceof PyFloat) return 'float';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof Map || isPlainObject(v)) return 'dict';
  return 'other';
}

function floatOf(v: unknown): number {
  return v instanceof PyFloat ? v.value : (v as number);
}

function intStr(v: unknown): string {
  // -0 is an int zero in Python; String(-0) is "0" as well.
  return typeof v === 'bigint' ? v.toString() : String(v as number);
}

/** Python's `repr(value)`. */
export function pyRepr(v: unknown): string {
  switch (pyKind(v)) {
    case 'undefined':
      return 'Undefined';
    case 'none':
      return 'None';
    case 'bool':
      return v ? 'True' : 'False';
    case 'int':
      return intStr(v);
    case 'float':
      return pyFloatRepr(floatOf(v));
    case 'str':
      return pyStrRepr(v as string);
    case 'list':
      return `[${(v as unknown[]).map(pyRepr).join(', ')}]`;
    case 'tuple': {
      const items = (v as PyTuple).items;
      return items.length === 1 ? `(${pyRepr(items[0])},)` : `(${items.map(pyRepr).join(', ')})`;
    }
    case 'dict':
      return `{${orderedEntries(v as Record<string, unknown>)
        .map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`)
        .join(', ')}}`;
    default:
      return `<${typeof v}>`;
  }
}

/** Python's `str(value)` as Jinja prints it (`Undefined` prints as the empty string). */
export function pyStr(v: unknown): string {
  const kind = pyKind(v);
  if (kind === 'str') return v as string;
  if (kind === 'undefined') return '';
  return pyRepr(v);
}

/** Options of Python's `json.dumps` that chat templates pass through `tojson`. */
export interface PyJsonOptions {
  ensureAscii?: boolean;
  indent?: number | string | null;
  separators?: readonly [string, string] | null;
  sortKeys?: boolean;
}

function jsonString(s: string, ensureAscii: boolean): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) out += '\\u' + hex(c, 4);
    else out += s[i];
  }
  return out + '"';
}

function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Python's `json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)`. */
export function pyJsonDumps(v: unknown, opts: PyJsonOptions = {}): string {
  const ensureAscii = opts.ensureAscii ?? true;
  const indent = opts.indent == null ? null : typeof opts.indent === 'number' ? ' '.repeat(opts.indent) : opts.indent;
  const [itemSep, keySep] = opts.separators ?? (indent === null ? [', ', ': '] : [',', ': ']);
  const enc = (x: unknown, level: number): string => {
    switch (pyKind(x)) {
      case 'none':
        return 'null';
      case 'bool':
        return x ? 'true' : 'false';
      case 'int':
        return intStr(x);
      case 'float': {
        const f = floatOf(x);
        if (Number.isNaN(f)) return 'NaN';
        if (!Number.isFinite(f)) return f > 0 ? 'Infinity' : '-Infinity';
        return pyFloatRepr(f);
      }
      case 'str':
        return jsonString(x as string, ensureAscii);
      case 'list':
      case 'tuple': {
        const items = Array.isArray(x) ? x : (x as PyTuple).items;
        if (items.length === 0) return '[]';
        const parts = items.map((i) => enc(i, level + 1));
        if (indent === null) return `[${parts.join(itemSep)}]`;
        const inner = '\n' + indent.repeat(level + 1);
        return `[${inner}${parts.join(itemSep + inner)}\n${indent.repeat(level)}]`;
      }
      case 'dict': {
        let entries = orderedEntries(x as Record<string, unknown>);
        if (entries.length === 0) return '{}';
        if (opts.sortKeys) entries = [...entries].sort(([a], [b]) => compareCodePoints(a, b));
        const parts = entries.map(([k, val]) => jsonString(k, ensureAscii) + keySep + enc(val, level + 1));
        if (indent === null) return `{${parts.join(itemSep)}}`;
        const inner = '\n' + indent.repeat(level + 1);
        return `{${inner}${parts.join(itemSep + inner)}\n${indent.repeat(level)}}`;
      }
      case 'undefined':
        throw new TypeError('Object of type Undefined is not JSON serializable');
      default:
        throw new TypeError(`Object of type ${typeof x} is not JSON serializable`);
    }
  };
  return enc(v, 0);
}
