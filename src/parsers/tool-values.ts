// Typing of `<parameter=KEY>VALUE</parameter>` text by the request's tool JSON schema (following
// vLLM's qwen3_coder parser, serving-spec 3.2), and its JSON encoding the way vLLM writes
// `arguments` (Python `json.dumps(..., ensure_ascii=False)`: `{"a": 1, "b": "x"}`).
import { JsonSyntaxError, parseJsonLossless } from '../template/lossless-json.js';
import { pyFloatRepr, pyJsonDumps } from '../template/python-format.js';
import { isPlainObject } from '../template/python-values.js';
import { parsePythonLiteral } from './python-literal.js';

/** The request's tools, indexed by function name (OpenAI `{type, function}` or bare `{name}` form). */
export class ToolSchemas {
  private readonly byName = new Map<string, Record<string, unknown> | null>();

  constructor(tools: readonly unknown[] | null | undefined) {
    for (const tool of tools ?? []) {
      if (!isPlainObject(tool)) continue;
      const fn = isPlainObject(tool.function) ? tool.function : tool;
      if (typeof fn.name !== 'string') continue;
      const params = fn.parameters;
      const props = isPlainObject(params) && isPlainObject(params.properties) ? params.properties : null;
      this.byName.set(fn.name, props);
    }
  }

  /** Whether no tools were given (then every function name is accepted and values are untyped). */
  get empty(): boolean {
    return this.byName.size === 0;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** JSON-schema of parameter `key` of function `name`, if declared. */
  property(name: string, key: string): Record<string, unknown> | undefined {
    const props = this.byName.get(name);
    const p = props ? props[key] : undefined;
    return isPlainObject(p) ? p : undefined;
  }
}

interface ParamType {
  /** First non-null declared type, lower-cased; undefined when unknown. */
  type: string | undefined;
  nullable: boolean;
}

function typesOf(schema: Record<string, unknown>): string[] {
  const t = schema.type;
  if (typeof t === 'string') return [t];
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === 'string');
  for (const key of ['anyOf', 'oneOf']) {
    const alts = schema[key];
    if (Array.isArray(alts)) return alts.flatMap((a) => (isPlainObject(a) ? typesOf(a) : []));
  }
  if (Array.isArray(schema.enum)) {
    if (schema.enum.length > 0 && schema.enum.every((v) => typeof v === 'string')) return ['string'];
    if (schema.enum.includes(null) && schema.enum.every((v) => v === null || typeof v === 'string')) return ['string', 'null'];
  }
  return [];
}

function paramType(schema: Record<string, unknown> | undefined): ParamType {
  if (!schema) return { type: undefined, nullable: true };
  const types = typesOf(schema).map((t) => t.toLowerCase());
  const nonNull = types.filter((t) => t !== 'null');
  return { type: nonNull[0], nullable: types.includes('null') || schema.nullable === true };
}

const STRING_TYPES = new Set(['string', 'str', 'text', 'varchar', 'char', 'enum']);
const NUMBER_TYPES = new Set(['number', 'float', 'double', 'num', 'decimal']);
const BOOLEAN_TYPES = new Set(['boolean', 'bool', 'binary']);
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function intText(t: string): string | undefined {
  if (/^[+-]?\d+$/.test(t)) return BigInt(t).toString();
  if (NUMBER_RE.test(t)) {
    const f = Number(t);
    if (Number.isSafeInteger(f)) return String(f);
  }
  return undefined;
}

function numberText(t: string): string | undefined {
  if (!NUMBER_RE.test(t)) return undefined;
  const f = Number(t);
  if (!Number.isFinite(f)) return undefined;
  // vLLM returns int(x) when the float is integral; beyond 2^53 only digit strings stay exact
  // integers (1e300 stays a float instead of becoming 301 digits).
  if (/^[+-]?\d+$/.test(t)) return BigInt(t).toString();
  if (Number.isSafeInteger(f)) return String(f === 0 ? 0 : f);
  return pyFloatRepr(f);
}

function jsonOrLiteral(t: string): string | undefined {
  try {
    return pyJsonDumps(parseJsonLossless(t), { ensureAscii: false });
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
  }
  const lit = parsePythonLiteral(t);
  return lit === undefined ? undefined : pyJsonDumps(lit, { ensureAscii: false });
}

const jsonStr = (s: string): string => pyJsonDumps(s, { ensureAscii: false });

/**
 * JSON text of a parameter value typed by its schema:
 * string types keep the raw text ("null" only becomes null if the schema is nullable);
 * integer/number/boolean parse when well-formed (integral numbers become ints) and stay strings
 * otherwise; object/array/other types parse as JSON, then as a Python literal, else stay strings;
 * parameters without a schema (or type) parse as JSON if they can, else stay strings.
 * The literal `null` is null for every non-string type.
 */
export function encodeParameterValue(raw: string, schema: Record<string, unknown> | undefined): string {
  const { type, nullable } = paramType(schema);
  if (type !== undefined && STRING_TYPES.has(type)) return nullable && raw === 'null' ? 'null' : jsonStr(raw);
  const t = raw.trim();
  if (t === 'null') return 'null';
  if (type === undefined) {
    try {
      return pyJsonDumps(parseJsonLossless(t), { ensureAscii: false });
    } catch {
      return jsonStr(raw);
    }
  }
  if (type.startsWith('int') || type === 'long' || type === 'short' || type.startsWith('uint')) return intText(t) ?? jsonStr(raw);
  if (NUMBER_TYPES.has(type)) return numberText(t) ?? jsonStr(raw);
  if (BOOLEAN_TYPES.has(type)) {
    const l = t.toLowerCase();
    return l === 'true' || l === 'false' ? l : jsonStr(raw);
  }
  return jsonOrLiteral(t) ?? jsonStr(raw);
}
