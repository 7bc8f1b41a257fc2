// JS stand-ins for the Python values a chat template sees after `json.loads` of a request.
//
// Two things are lost by `JSON.parse` and change rendered prompts: a float with an integral value
// (`1.0` is printed `1.0` by Python, but is the number 1 in JS) and the order of object keys that
// look like array indices (JS puts "10" before "b"; Python keeps insertion order). `PyFloat` and the
// `KEY_ORDER` symbol carry that information; `parseJsonLossless` produces them.

/** A Python float whose value is integral (`1.0`, `-0.0`, `1e21`); other floats stay plain numbers. */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
  toJSON(): number {
    return this.value;
  }
}

/** A Python tuple (only produced by template expressions, e.g. `(1, 2)`). */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

/**
 * Symbol under which a plain object may record its keys in source order, when that order differs
 * from JS's own property order (integer-like keys). Invisible to `Object.keys`/`JSON.stringify`.
 */
export const KEY_ORDER: unique symbol = Symbol('nemotron-ts.keyOrder');

/** Marker for Jinja's `Undefined` once converted out of the template runtime. */
export const PY_UNDEFINED: unique symbol = Symbol('nemotron-ts.undefined');

type Keyed = Record<string, unknown> & { [KEY_ORDER]?: readonly string[] };

/** True for `{...}` objects (not arrays, Maps, PyFloat or class instances). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Keys of a plain object in Python (insertion) order. */
export function orderedKeys(obj: Record<string, unknown>): string[] {
  const order = (obj as Keyed)[KEY_ORDER];
  if (order && order.length === Object.keys(obj).length) return [...order];
  return Object.keys(obj);
}

/** Entries of a plain object or Map in Python (insertion) order. */
export function orderedEntries(obj: Record<string, unknown> | ReadonlyMap<string, unknown>): [string, unknown][] {
  if (obj instanceof Map) return [...obj.entries()];
  const rec = obj as Record<string, unknown>;
  return orderedKeys(rec).map((k) => [k, rec[k]]);
}

/** Build a plain object that remembers `keys` order (adds KEY_ORDER only when JS would reorder). */
export function makeOrderedObject(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const out: Keyed = {};
  const keys: string[] = [];
  for (const [k, v] of entries) {
    if (!Object.prototype.hasOwnProperty.call(out, k)) keys.push(k);
    out[k] = v;
  }
  const natural = Object.keys(out);
  if (natural.some((k, i) => k !== keys[i])) {
    Object.defineProperty(out, KEY_ORDER, { value: keys, enumerable: false });
  }
  return out;
}
