// Access to @huggingface/jinja's runtime value classes, and conversion between them and the JS
// stand-ins for Python values (python-values.ts).
//
// The package exports only Environment/Interpreter/tokenize/parse, not the value classes that
// custom globals must return. `Environment.set()` converts a JS value and returns the runtime
// value, so the constructors are taken from those results once at load time.
import { Environment } from '@huggingface/jinja';
import { PY_UNDEFINED, PyFloat, PyTuple, isPlainObject, makeOrderedObject, orderedEntries } from './python-values.js';

/** Structural view of a @huggingface/jinja runtime value. */
export interface RuntimeValue {
  type: string;
  value: unknown;
  readonly builtins: ReadonlyMap<string, RuntimeValue>;
  __bool__(): { value: boolean };
  toString(): string;
}

/** Signature of the functions the interpreter calls (`FunctionValue.value`). */
export type RuntimeFunction = (args: RuntimeValue[], scope: Environment) => RuntimeValue;

type Ctor<T> = new (value: T) => RuntimeValue;

const probe = new Environment();
let probeCount = 0;
function ctorOf<T>(sample: unknown): Ctor<T> {
  const value = probe.set(`__probe${probeCount++}`, sample) as unknown as RuntimeValue;
  return value.constructor as Ctor<T>;
}

const IntegerValue = ctorOf<number>(1);
const FloatValue = ctorOf<number>(1.5);
const StringValue = ctorOf<string>('');
const BooleanValue = ctorOf<boolean>(true);
const NullValue = ctorOf<null>(null);
const UndefinedValue = ctorOf<undefined>(undefined);
const ArrayValue = ctorOf<RuntimeValue[]>([]);
const ObjectValue = ctorOf<Map<string, RuntimeValue>>({});
const FunctionValue = ctorOf<RuntimeFunction>(() => undefined);

/** Integer beyond 2^53: arithmetic sees the nearest double, printing sees the exact digits. */
class BigIntegerValue extends IntegerValue {
  constructor(readonly big: bigint) {
    super(Number(big) as never);
  }
  override toString(): string {
    return this.big.toString();
  }
}

export const rt = {
  int: (n: number): RuntimeValue => new IntegerValue(n),
  float: (n: number): RuntimeValue => new FloatValue(n),
  str: (s: string): RuntimeValue => new StringValue(s),
  bool: (b: boolean): RuntimeValue => new BooleanValue(b),
  none: (): RuntimeValue => new NullValue(null),
  undefined: (): RuntimeValue => new UndefinedValue(undefined),
  list: (items: RuntimeValue[]): RuntimeValue => new ArrayValue(items),
  dict: (map: Map<string, RuntimeValue>): RuntimeValue => new ObjectValue(map),
  fn: (f: RuntimeFunction): RuntimeValue => new FunctionValue(f),
};

/** True when `v` already is a runtime value (not a JS stand-in). */
export function isRuntimeValue(v: unknown): v is RuntimeValue {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as RuntimeValue).type === 'string' &&
    typeof (v as RuntimeValue).__bool__ === 'function'
  );
}

/** Convert a JS stand-in for a Python value into a runtime value (keeping float-ness and key order). */
export function toRuntime(v: unknown): RuntimeValue {
  if (isRuntimeValue(v)) return v;
  if (v === undefined || v === PY_UNDEFINED) return rt.undefined();
  if (v === null) return rt.none();
  switch (typeof v) {
    case 'string':
      return rt.str(v);
    case 'boolean':
      return rt.bool(v);
    case 'number':
      return Number.isInteger(v) ? rt.int(v) : rt.float(v);
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? rt.int(Number(v)) : new BigIntegerValue(v);
    case 'function': {
      const f = v as (...a: unknown[]) => unknown;
      return rt.fn((args) => toRuntime(f(...args.map(fromRuntime))));
    }
  }
  if (v instanceof PyFloat) return rt.float(v.value);
  if (Array.isArray(v)) return rt.list(v.map(toRuntime));
  if (v instanceof PyTuple) return rt.list(v.items.map(toRuntime));
  if (v instanceof Map || isPlainObject(v)) {
    return rt.dict(new Map(orderedEntries(v as Record<string, unknown>).map(([k, x]) => [k, toRuntime(x)])));
  }
  if (v instanceof Date) return rt.str(v.toISOString());
  throw new TypeError(`Cannot pass a ${Object.prototype.toString.call(v)} to a chat template`);
}

/** Convert a runtime value back to a JS stand-in (floats become PyFloat so they print as floats). */
export function fromRuntime(v: RuntimeValue): unknown {
  switch (v.type) {
    case 'UndefinedValue':
      return PY_UNDEFINED;
    case 'NullValue':
      return null;
    case 'BooleanValue':
    case 'StringValue':
      return v.value;
    case 'IntegerValue':
      return v instanceof BigIntegerValue ? v.big : v.value;
    case 'FloatValue':
      return new PyFloat(v.value as number);
    case 'ArrayValue':
      return (v.value as RuntimeValue[]).map(fromRuntime);
    case 'TupleValue':
      return new PyTuple((v.value as RuntimeValue[]).map(fromRuntime));
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
    case 'NamespaceValue':
      return makeOrderedObject([...(v.value as Map<string, RuntimeValue>).entries()].map(([k, x]) => [k, fromRuntime(x)]));
    default:
      return v;
  }
}
