// Jinja with Python semantics on top of @huggingface/jinja.
//
// @huggingface/jinja parses chat templates well but prints values the JS way: `True|string` is
// "true", `None|string` throws, lists print as JSON, `tojson` writes 1.0 as 1, `trim` uses JS
// whitespace, strings have no Python `strip(chars)`/`join`/`find`... Its filters and printing are
// hard-wired in the interpreter, so instead of patching it we rewrite the parsed template: every
// construct whose result differs from Python is replaced by a call to a global function defined here
// (`__py_*`), which implements CPython/Jinja2 behaviour. The interpreter itself is used unchanged.
//
// Not emulated (they need changes inside @huggingface/jinja's lexer, parser or loop object):
// scientific-notation literals in template source (`1e-5` does not lex), tests with arguments
// (`is divisibleby(3)`), `loop.cycle`/`loop.changed`, and `dict.items()` yielding tuples (it yields
// 2-lists, which unpack the same in `for k, v in ...` but print as lists). `'a' + 1` concatenates
// where Python raises.
import { Environment, Interpreter, parse, tokenize } from '@huggingface/jinja';
import { TemplateRaisedError, TemplateRenderError, TemplateSyntaxError } from './errors.js';
import { type RuntimeFunction, type RuntimeValue, fromRuntime, rt, toRuntime } from './jinja-runtime.js';
import { pyJsonDumps, pyStr, pyStrip, isPySpace } from './python-format.js';
import { percentFormat } from './percent-format.js';
import { strftime } from './strftime.js';

type Node = { type: string; [key: string]: unknown };

/** Statement-list fields of the AST: expressions found there are printed (`{{ ... }}` or text). */
const BODY_FIELDS = new Set(['body', 'alternate', 'defaultBlock']);
const STATEMENT_TYPES = new Set([
  'Program',
  'If',
  'For',
  'Break',
  'Continue',
  'Set',
  'Macro',
  'Comment',
  'CallStatement',
  'FilterStatement',
]);
/** Filters whose @huggingface/jinja result differs from Jinja2's; replaced by `__py_filter_<name>`. */
const PY_FILTERS = new Set(['string', 'trim', 'tojson', 'length', 'count', 'join', 'items', 'int', 'round', 'format']);
/** Tests that differ (dicts are iterable, booleans are numbers, float test missing). */
const PY_TESTS = new Set(['iterable', 'number', 'integer', 'float']);
/** Python dict attributes: `d.items` is the method in Python even if the dict has an "items" key. */
const DICT_METHODS = new Set(['items', 'keys', 'values', 'get', 'copy', 'pop', 'popitem', 'setdefault', 'update', 'clear']);
/** Python str methods implemented here (others fall through to @huggingface/jinja's builtins). */
const STR_METHODS = new Set([
  'strip',
  'lstrip',
  'rstrip',
  'split',
  'rsplit',
  'splitlines',
  'join',
  'find',
  'rfind',
  'count',
  'removeprefix',
  'removesuffix',
]);

const ident = (value: string): Node => ({ type: 'Identifier', value });
const call = (name: string, args: unknown[]): Node => ({ type: 'CallExpression', callee: ident(name), args });
const strLit = (value: string): Node => ({ type: 'StringLiteral', value });

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as Node).type === 'string';
}

function rewriteList(list: unknown[], isBody: boolean): unknown[] {
  return list.map((item) => {
    if (!isNode(item)) return item;
    const out = rewrite(item);
    // Raw template text is a StringLiteral and needs no conversion.
    if (isBody && !STATEMENT_TYPES.has(out.type) && out.type !== 'StringLiteral') return call('__py_out', [out]);
    return out;
  });
}

/** Rewrite a parsed template so that it evaluates with Python semantics (see module comment). */
function rewrite(node: Node): Node {
  for (const [key, value] of Object.entries(node)) {
    if (key === 'operator' || key === 'type') continue; // operators are lexer tokens, not nodes
    if (Array.isArray(value)) node[key] = rewriteList(value, BODY_FIELDS.has(key));
    else if (value instanceof Map) {
      node[key] = new Map([...value.entries()].map(([k, v]) => [isNode(k) ? rewrite(k) : k, isNode(v) ? rewrite(v) : v]));
    } else if (isNode(value)) node[key] = rewrite(value);
  }
  switch (node.type) {
    case 'FilterExpression': {
      const filter = node.filter as Node;
      const name = filter.type === 'Identifier' ? (filter.value as string) : ((filter.callee as Node).value as string);
      if (!PY_FILTERS.has(name)) return node;
      const args = filter.type === 'CallExpression' ? (filter.args as unknown[]) : [];
      return call(`__py_filter_${name}`, [node.operand, ...args]);
    }
    case 'BinaryExpression': {
      const op = (node.operator as { value: string }).value;
      if (op === '~') return call('__py_concat', [node.left, node.right]);
      if (op === '%') return call('__py_mod', [node.left, node.right]);
      return node;
    }
    case 'TestExpression': {
      const test = (node.test as Node).value as string;
      if (!PY_TESTS.has(test)) return node;
      const tested = call(`__py_test_${test}`, [node.operand]);
      return node.negate ? { type: 'UnaryExpression', operator: { type: 'UnaryOperator', value: 'not' }, argument: tested } : tested;
    }
    case 'MemberExpression': {
      const prop = node.property as Node;
      if (!node.computed && prop.type === 'Identifier' && DICT_METHODS.has(prop.value as string)) {
        return call('__py_getattr', [node.object, strLit(prop.value as string)]);
      }
      return node;
    }
    case 'CallExpression': {
      const callee = node.callee as Node;
      // `x.strip(...)` was rewritten to `__py_getattr(x, ...)` only for dict method names; for
      // str methods the whole call is redirected so the receiver's type can be checked at run time.
      if (callee.type === 'MemberExpression' && !callee.computed) {
        const prop = callee.property as Node;
        if (prop.type === 'Identifier' && STR_METHODS.has(prop.value as string)) {
          return call('__py_method', [callee.object, strLit(prop.value as string), ...(node.args as unknown[])]);
        }
      }
      return node;
    }
    default:
      return node;
  }
}

/** A parsed and rewritten template, reusable across renders. */
export interface CompiledTemplate {
  readonly program: unknown;
}

/** Parse `source` with trim_blocks/lstrip_blocks (as transformers configures Jinja2). */
export function compileTemplate(source: string): CompiledTemplate {
  let program: Node;
  try {
    program = parse(tokenize(source, { lstrip_blocks: true, trim_blocks: true })) as unknown as Node;
  } catch (err) {
    throw new TemplateSyntaxError(`chat template does not parse: ${(err as Error).message}`, { cause: err });
  }
  return { program: rewrite(program) };
}

/** Options for `renderTemplate`. */
export interface RenderTemplateOptions {
  /** Clock for `strftime_now` (default: the current time). */
  now?: () => Date;
}

/** Render a compiled template with `vars` (JS stand-ins for Python values) in scope. */
export function renderTemplate(
  compiled: CompiledTemplate,
  vars: Record<string, unknown>,
  options: RenderTemplateOptions = {},
): string {
  const env = new Environment();
  for (const [name, fn] of Object.entries(GLOBAL_FUNCTIONS)) env.variables.set(name, rt.fn(fn));
  env.variables.set('strftime_now', rt.fn(([fmt]) => rt.str(strftime((options.now ?? (() => new Date()))(), text(fmt)))));
  for (const [name, value] of Object.entries(CONSTANTS)) env.variables.set(name, toRuntime(value));
  for (const [name, value] of Object.entries(vars)) {
    if (value !== undefined) env.variables.set(name, toRuntime(value));
  }
  try {
    const result = new Interpreter(env).run(compiled.program as never) as unknown as RuntimeValue;
    return result.value as string;
  } catch (err) {
    if (err instanceof TemplateRenderError) throw err;
    throw new TemplateRenderError(`chat template failed: ${(err as Error).message}`, { cause: err });
  }
}

const CONSTANTS: Record<string, unknown> = { true: true, false: false, none: null, True: true, False: false, None: null };

/** Split interpreter call arguments into positional values and keyword arguments. */
function splitArgs(args: RuntimeValue[]): [RuntimeValue[], Map<string, RuntimeValue>] {
  const last = args[args.length - 1];
  if (last && last.type === 'KeywordArgumentsValue') return [args.slice(0, -1), last.value as Map<string, RuntimeValue>];
  return [args, new Map()];
}

function arg(pos: RuntimeValue[], kw: Map<string, RuntimeValue>, index: number, name: string): RuntimeValue | undefined {
  const v = pos[index] ?? kw.get(name);
  return v === undefined || v.type === 'UndefinedValue' ? undefined : v;
}

const text = (v: RuntimeValue | undefined): string => (v === undefined ? '' : pyStr(fromRuntime(v)));
const optStr = (v: RuntimeValue | undefined): string | null =>
  v === undefined || v.type === 'NullValue' ? null : text(v);

function iterate(v: RuntimeValue, what: string): RuntimeValue[] {
  switch (v.type) {
    case 'ArrayValue':
    case 'TupleValue':
      return v.value as RuntimeValue[];
    case 'StringValue':
      return Array.from(v.value as string, (c) => rt.str(c));
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
      return [...(v.value as Map<string, RuntimeValue>).keys()].map(rt.str);
    case 'UndefinedValue':
      return [];
    default:
      throw new TemplateRenderError(`'${v.type}' object is not iterable (${what})`);
  }
}

/** Python `str.split(sep, maxsplit)`; `fromRight` gives `rsplit`. */
function pySplit(s: string, sep: string | null, maxsplit: number, fromRight: boolean): string[] {
  if (sep === '') throw new TemplateRenderError('ValueError: empty separator');
  let parts: string[];
  if (sep === null) {
    parts = [];
    let cur = '';
    for (const ch of s) {
      if (isPySpace(ch.codePointAt(0)!)) {
        if (cur) parts.push(cur);
        cur = '';
      } else cur += ch;
    }
    if (cur) parts.push(cur);
    if (maxsplit < 0 || parts.length <= maxsplit + 1) return parts;
    // Rejoining would lose the original whitespace, so redo the split keeping the remainder verbatim.
    const out: string[] = [];
    let rest = fromRight ? pyStrip(s, null, 'right') : pyStrip(s, null, 'left');
    for (let i = 0; i < maxsplit; i++) {
      if (fromRight) {
        const cps = Array.from(rest);
        let j = cps.length;
        while (j > 0 && !isPySpace(cps[j - 1]!.codePointAt(0)!)) j--;
        out.unshift(cps.slice(j).join(''));
        rest = pyStrip(cps.slice(0, j).join(''), null, 'right');
      } else {
        const cps = Array.from(rest);
        let j = 0;
        while (j < cps.length && !isPySpace(cps[j]!.codePointAt(0)!)) j++;
        out.push(cps.slice(0, j).join(''));
        rest = pyStrip(cps.slice(j).join(''), null, 'left');
      }
    }
    return fromRight ? [rest, ...out] : [...out, rest];
  }
  parts = s.split(sep);
  if (maxsplit < 0 || parts.length <= maxsplit + 1) return parts;
  return fromRight
    ? [parts.slice(0, parts.length - maxsplit).join(sep), ...parts.slice(parts.length - maxsplit)]
    : [...parts.slice(0, maxsplit), parts.slice(maxsplit).join(sep)];
}

function codePointSlice(s: string, start?: RuntimeValue, end?: RuntimeValue): [string, number] {
  const cps = Array.from(s);
  const norm = (v: RuntimeValue | undefined, dflt: number): number => {
    if (v === undefined || v.type === 'NullValue') return dflt;
    const n = v.value as number;
    return n < 0 ? Math.max(0, cps.length + n) : Math.min(n, cps.length);
  };
  const a = norm(start, 0);
  const b = norm(end, cps.length);
  return [cps.slice(a, Math.max(a, b)).join(''), a];
}

const cpIndex = (s: string, utf16: number): number => (utf16 < 0 ? -1 : Array.from(s.slice(0, utf16)).length);

function strMethod(s: string, name: string, pos: RuntimeValue[], kw: Map<string, RuntimeValue>): RuntimeValue {
  switch (name) {
    case 'strip':
    case 'lstrip':
    case 'rstrip': {
      const mode = name === 'strip' ? 'both' : name === 'lstrip' ? 'left' : 'right';
      return rt.str(pyStrip(s, optStr(arg(pos, kw, 0, 'chars')), mode));
    }
    case 'split':
    case 'rsplit': {
      const max = arg(pos, kw, 1, 'maxsplit');
      const parts = pySplit(s, optStr(arg(pos, kw, 0, 'sep')), max ? (max.value as number) : -1, name === 'rsplit');
      return rt.list(parts.map(rt.str));
    }
    case 'splitlines': {
      const keep = arg(pos, kw, 0, 'keepends')?.__bool__().value ?? false;
      const lines = s.match(/[^\n\r\v\f\x1c-\x1e\x85\u2028\u2029]*(\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]|$)/g) ?? [];
      const out = lines.filter((l) => l !== '').map((l) => (keep ? l : l.replace(/(\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029])$/, '')));
      return rt.list(out.map(rt.str));
    }
    case 'join': {
      const items = iterate(pos[0] ?? rt.undefined(), 'str.join');
      return rt.str(
        items
          .map((i) => {
            if (i.type !== 'StringValue') throw new TemplateRenderError(`sequence item: expected str instance, ${i.type} found`);
            return i.value as string;
          })
          .join(s),
      );
    }
    case 'find':
    case 'rfind':
    case 'count': {
      const sub = text(pos[0]);
      const [hay, offset] = codePointSlice(s, pos[1], pos[2]);
      if (name === 'count') {
        if (sub === '') return rt.int(Array.from(hay).length + 1);
        return rt.int(hay.split(sub).length - 1);
      }
      const at = name === 'find' ? hay.indexOf(sub) : hay.lastIndexOf(sub);
      return rt.int(at < 0 ? -1 : cpIndex(hay, at) + offset);
    }
    case 'removeprefix': {
      const p = text(pos[0]);
      return rt.str(p && s.startsWith(p) ? s.slice(p.length) : s);
    }
    case 'removesuffix': {
      const p = text(pos[0]);
      return rt.str(p && s.endsWith(p) ? s.slice(0, -p.length) : s);
    }
    default:
      throw new TemplateRenderError(`str has no method ${name}`);
  }
}

/** Attribute lookup with Jinja2's order: Python attribute (dict method) first, then item. */
function getattr(obj: RuntimeValue, name: string): RuntimeValue {
  if (obj.type === 'ObjectValue' || obj.type === 'KeywordArgumentsValue') {
    if (name === 'copy') return rt.fn(() => rt.dict(new Map(obj.value as Map<string, RuntimeValue>)));
    const builtin = obj.builtins.get(name);
    if (builtin) return builtin;
    if (DICT_METHODS.has(name)) {
      return rt.fn(() => {
        throw new TemplateRenderError(`access to attribute '${name}' of 'dict' object is unsafe.`);
      });
    }
  }
  if (obj.type === 'ObjectValue' || obj.type === 'KeywordArgumentsValue' || obj.type === 'NamespaceValue') {
    return (obj.value as Map<string, RuntimeValue>).get(name) ?? rt.undefined();
  }
  return obj.builtins.get(name) ?? rt.undefined();
}

function length(v: RuntimeValue): number {
  switch (v.type) {
    case 'StringValue':
      return Array.from(v.value as string).length;
    case 'ArrayValue':
    case 'TupleValue':
      return (v.value as unknown[]).length;
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
      return (v.value as Map<string, unknown>).size;
    case 'UndefinedValue':
      return 0;
    default:
      throw new TemplateRenderError(`object of type '${v.type}' has no len()`);
  }
}

const GLOBAL_FUNCTIONS: Record<string, RuntimeFunction> = {
  __py_out: ([v]) => (v!.type === 'StringValue' ? v! : rt.str(text(v))),
  __py_concat: ([a, b]) => rt.str(text(a) + text(b)),
  __py_filter_string: ([v]) => rt.str(text(v)),
  __py_filter_trim: (args) => {
    const [pos, kw] = splitArgs(args);
    return rt.str(pyStrip(text(pos[0]), optStr(arg(pos, kw, 1, 'chars'))));
  },
  __py_filter_tojson: (args) => {
    const [pos, kw] = splitArgs(args);
    const ensureAscii = arg(pos, kw, 1, 'ensure_ascii');
    const indent = arg(pos, kw, 2, 'indent');
    const separators = arg(pos, kw, 3, 'separators');
    const sortKeys = arg(pos, kw, 4, 'sort_keys');
    let seps: [string, string] | null = null;
    if (separators && separators.type !== 'NullValue') {
      const items = iterate(separators, 'tojson separators').map(text);
      if (items.length !== 2) throw new TemplateRenderError('tojson separators must be a pair of strings');
      seps = [items[0]!, items[1]!];
    }
    try {
      return rt.str(
        pyJsonDumps(fromRuntime(pos[0]!), {
          ensureAscii: ensureAscii?.__bool__().value ?? false,
          indent: indent && indent.type !== 'NullValue' ? (indent.value as number | string) : null,
          separators: seps,
          sortKeys: sortKeys?.__bool__().value ?? false,
        }),
      );
    } catch (err) {
      throw new TemplateRenderError(`tojson: ${(err as Error).message}`, { cause: err });
    }
  },
  __py_filter_length: ([v]) => rt.int(length(v!)),
  __py_filter_count: ([v]) => rt.int(length(v!)),
  __py_filter_join: (args) => {
    const [pos, kw] = splitArgs(args);
    const sep = text(arg(pos, kw, 1, 'd'));
    const attribute = arg(pos, kw, 2, 'attribute');
    const items = iterate(pos[0]!, 'join').map((i) => (attribute ? getattr(i, text(attribute)) : i));
    return rt.str(items.map(text).join(sep));
  },
  __py_filter_items: ([v]) => {
    if (v!.type === 'UndefinedValue') return rt.list([]);
    if (v!.type !== 'ObjectValue' && v!.type !== 'KeywordArgumentsValue') {
      throw new TemplateRenderError('Can only get item pairs from a mapping.');
    }
    return rt.list([...(v!.value as Map<string, RuntimeValue>).entries()].map(([k, x]) => rt.list([rt.str(k), x])));
  },
  __py_filter_int: (args) => {
    const [pos, kw] = splitArgs(args);
    const dflt = arg(pos, kw, 1, 'default') ?? rt.int(0);
    const v = pos[0]!;
    if (v.type === 'IntegerValue') return v;
    if (v.type === 'BooleanValue') return rt.int(v.value ? 1 : 0);
    if (v.type === 'FloatValue') return Number.isFinite(v.value) ? rt.int(Math.trunc(v.value as number)) : dflt;
    if (v.type === 'StringValue') {
      const t = (v.value as string).trim().replace(/_/g, '');
      if (/^[+-]?\d+$/.test(t)) return rt.int(Number(t));
      const f = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
      return Number.isFinite(f) ? rt.int(Math.trunc(f)) : dflt;
    }
    return dflt;
  },
  __py_filter_round: (args) => {
    // Jinja2 do_round: 'common' is Python's round(), or 'ceil'/'floor'; always a float.
    const [pos, kw] = splitArgs(args);
    const x = pos[0]!.value as number;
    const precision = (arg(pos, kw, 1, 'precision')?.value as number | undefined) ?? 0;
    const method = text(arg(pos, kw, 2, 'method')) || 'common';
    const m = 10 ** precision;
    // Python's round(): ties go to the even neighbour.
    const even = (y: number): number => (Math.abs(y % 1) === 0.5 ? 2 * Math.round(y / 2) : Math.round(y));
    const f = method === 'ceil' ? Math.ceil : method === 'floor' ? Math.floor : even;
    return rt.float(f(x * m) / m);
  },
  __py_filter_format: (args) => {
    const [pos, kw] = splitArgs(args);
    if (kw.size > 0) return rt.str(percentFormat(text(pos[0]), fromRuntime(rt.dict(kw))));
    return rt.str(percentFormat(text(pos[0]), pos.slice(1).map(fromRuntime)));
  },
  __py_mod: ([a, b]) => {
    if (a!.type === 'StringValue') {
      const r = fromRuntime(b!);
      const values = b!.type === 'TupleValue' ? (r as { items: unknown[] }).items : b!.type === 'ObjectValue' ? r : [r];
      return rt.str(percentFormat(a!.value as string, values));
    }
    const numeric = ['IntegerValue', 'FloatValue', 'BooleanValue'];
    if (!numeric.includes(a!.type) || !numeric.includes(b!.type)) {
      throw new TemplateRenderError(`unsupported operand types for %: ${a!.type} and ${b!.type}`);
    }
    const x = Number(a!.value);
    const y = Number(b!.value);
    if (y === 0) throw new TemplateRenderError('ZeroDivisionError: modulo by zero');
    const r = x - Math.floor(x / y) * y; // Python: the result takes the divisor's sign
    return a!.type === 'FloatValue' || b!.type === 'FloatValue' ? rt.float(r) : rt.int(r);
  },
  __py_test_iterable: ([v]) =>
    rt.bool(['ArrayValue', 'TupleValue', 'StringValue', 'ObjectValue', 'KeywordArgumentsValue'].includes(v!.type)),
  __py_test_number: ([v]) => rt.bool(['IntegerValue', 'FloatValue', 'BooleanValue'].includes(v!.type)),
  __py_test_integer: ([v]) => rt.bool(v!.type === 'IntegerValue'),
  __py_test_float: ([v]) => rt.bool(v!.type === 'FloatValue'),
  __py_getattr: ([obj, name]) => getattr(obj!, name!.value as string),
  __py_method: (args, scope) => {
    const [obj, name, ...rest] = args as [RuntimeValue, RuntimeValue, ...RuntimeValue[]];
    const method = name.value as string;
    if (obj.type === 'StringValue') {
      const [pos, kw] = splitArgs(rest);
      return strMethod(obj.value as string, method, pos, kw);
    }
    const fn = getattr(obj, method);
    if (fn.type !== 'FunctionValue') throw new TemplateRenderError(`'${obj.type}' has no method '${method}'`);
    return (fn.value as RuntimeFunction)(rest, scope);
  },
  raise_exception: ([message]) => {
    throw new TemplateRaisedError(text(message));
  },
  range: (args) => {
    const [pos] = splitArgs(args);
    const nums = pos.map((p) => p.value as number);
    const [start, stop, step] = nums.length === 1 ? [0, nums[0]!, 1] : [nums[0]!, nums[1]!, nums[2] ?? 1];
    if (step === 0) throw new TemplateRenderError('range() arg 3 must not be zero');
    const out: RuntimeValue[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(rt.int(i));
    return rt.list(out);
  },
  dict: (args) => {
    const [pos, kw] = splitArgs(args);
    const out = new Map<string, RuntimeValue>();
    if (pos[0] && (pos[0].type === 'ObjectValue' || pos[0].type === 'KeywordArgumentsValue')) {
      for (const [k, v] of pos[0].value as Map<string, RuntimeValue>) out.set(k, v);
    }
    for (const [k, v] of kw) out.set(k, v);
    return rt.dict(out);
  },
};
