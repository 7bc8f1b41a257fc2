/**
 * JSON schema -> grammar nodes, for the subset OpenAI's strict structured outputs allow: type (and type
 * lists), properties/required/additionalProperties, items/minItems/maxItems, enum, const, anyOf, $ref into
 * $defs/definitions (recursion included), string minLength/maxLength, number/integer minimum/maximum
 * (exclusive too), nullable types; annotations are ignored. Keywords that would need more than this (pattern,
 * format, allOf, not, if/then/else, patternProperties, ...) are refused with a SchemaError naming them when
 * the schema is strict: output is never claimed to follow a schema it was not constrained to. Non-strict
 * schemas (OpenAI `strict` absent or false: the schema is a hint, not a contract) are compiled best-effort,
 * the unsupported keywords ignored.
 */
import { ArrayNode, ChoiceNode, LiteralNode, type Node, NumberNode, ObjectNode, RefNode, settleMinLengths, StringNode } from './grammar.js';

/** A schema the constrained decoder cannot enforce; `path` is a JSON pointer into the schema. */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path || '/'}: ${message}`);
    this.name = 'SchemaError';
  }
}

type Json = Record<string, unknown>;

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$schema', '$id', '$comment', 'deprecated', 'readOnly', 'writeOnly', 'strict', 'name', '$defs', 'definitions']);
const KNOWN = new Set([
  ...ANNOTATIONS,
  'type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'enum', 'const', 'anyOf',
  'oneOf', '$ref', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'nullable',
]);
const TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'] as const;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface CompileOptions {
  /** Ignore keywords the grammar cannot enforce instead of refusing the schema (non-strict schemas). */
  lenient?: boolean;
}

/** Compiles a JSON schema to a grammar node. Throws SchemaError for unsupported or malformed schemas. */
export function compileSchema(schema: unknown, options: CompileOptions = {}): Node {
  const c = new Compiler(schema, options.lenient ?? false);
  const root = c.node(schema, '');
  c.finish();
  if (!Number.isFinite(root.minLen)) throw new SchemaError('', 'the schema admits no finite JSON value');
  return root;
}

/** Any JSON value whose top level is an object (response_format json_object). */
export function anyJsonObject(): Node {
  const value = new RefNode();
  const obj = new ObjectNode([], value);
  const all: Node[] = [value, obj];
  const arr = new ArrayNode(value);
  const str = new StringNode();
  const num = new NumberNode(false);
  const lits = ['true', 'false', 'null'].map((t) => new LiteralNode(t));
  const choice = new ChoiceNode([obj, arr, str, num, ...lits]);
  value.target = choice;
  all.push(arr, str, num, ...lits, choice);
  settleMinLengths(all);
  return obj;
}

class Compiler {
  private readonly all: Node[] = [];
  private readonly refs = new Map<string, RefNode>();
  constructor(
    private readonly root: unknown,
    private readonly lenient: boolean,
  ) {}

  finish(): void {
    for (const [ref, node] of this.refs) {
      if (!node.target) node.target = this.node(this.resolve(ref), ref.slice(1));
    }
    // resolving a ref may add refs: loop until all are bound
    let pending = [...this.refs.values()].filter((r) => !r.target);
    while (pending.length) {
      for (const [ref, node] of this.refs) if (!node.target) node.target = this.node(this.resolve(ref), ref.slice(1));
      pending = [...this.refs.values()].filter((r) => !r.target);
    }
    settleMinLengths(this.all);
  }

  private add<N extends Node>(n: N): N {
    this.all.push(n);
    return n;
  }

  private resolve(ref: string): unknown {
    if (!ref.startsWith('#')) throw new SchemaError(ref, 'only local references ("#/...") are supported');
    let cur: unknown = this.root;
    for (const raw of ref.slice(1).split('/').filter(Boolean)) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObj(cur) || !(part in cur)) throw new SchemaError(ref, 'reference does not resolve');
      cur = cur[part];
    }
    return cur;
  }

  node(schema: unknown, path: string): Node {
    if (schema === true || (isObj(schema) && Object.keys(schema).every((k) => ANNOTATIONS.has(k) || (this.lenient && !KNOWN.has(k))))) return anyJsonObjectValue(this);
    if (!isObj(schema)) throw new SchemaError(path, 'a schema must be an object');
    for (const k of Object.keys(schema)) {
      if (!KNOWN.has(k) && !this.lenient) throw new SchemaError(path, `the keyword "${k}" is not supported by constrained decoding (allowed with strict: false, where it is ignored)`);
    }
    if (typeof schema.$ref === 'string') {
      const ref = schema.$ref;
      let r = this.refs.get(ref);
      if (!r) {
        r = this.add(new RefNode());
        this.refs.set(ref, r);
      }
      return r;
    }
    if ('const' in schema) return this.add(new LiteralNode(JSON.stringify(schema.const)));
    if (schema.enum !== undefined) {
      if (!Array.isArray(schema.enum) || schema.enum.length === 0) throw new SchemaError(`${path}/enum`, 'enum must be a non-empty array');
      return this.add(new ChoiceNode(schema.enum.map((v) => this.add(new LiteralNode(JSON.stringify(v))))));
    }
    const alts = schema.anyOf ?? schema.oneOf;
    if (alts !== undefined) {
      const key = schema.anyOf !== undefined ? 'anyOf' : 'oneOf';
      if (!Array.isArray(alts) || alts.length === 0) throw new SchemaError(`${path}/${key}`, `${key} must be a non-empty array`);
      // oneOf is accepted only when its branches cannot overlap in what we generate: treat as anyOf
      return this.add(new ChoiceNode(alts.map((a, i) => this.node(a, `${path}/${key}/${i}`))));
    }
    let types: string[];
    if (schema.type === undefined) {
      if (isObj(schema.properties)) types = ['object'];
      else if (schema.items !== undefined) types = ['array'];
      else return anyJsonObjectValue(this);
    } else types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (schema.nullable === true && !types.includes('null')) types.push('null');
    for (const t of types) {
      if (!(TYPES as readonly string[]).includes(t)) throw new SchemaError(`${path}/type`, `unknown type ${JSON.stringify(t)}`);
    }
    const nodes = types.map((t) => this.typed(t, schema, path));
    return nodes.length === 1 ? nodes[0] : this.add(new ChoiceNode(nodes));
  }

  private int(schema: Json, key: string, path: string): number | undefined {
    const v = schema[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SchemaError(`${path}/${key}`, `${key} must be a non-negative integer`);
    return v;
  }

  private num(schema: Json, key: string, path: string): number | undefined {
    const v = schema[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SchemaError(`${path}/${key}`, `${key} must be a number`);
    return v;
  }

  private typed(type: string, schema: Json, path: string): Node {
    switch (type) {
      case 'null':
        return this.add(new LiteralNode('null'));
      case 'boolean':
        return this.add(new ChoiceNode([this.add(new LiteralNode('true')), this.add(new LiteralNode('false'))]));
      case 'string': {
        const min = this.int(schema, 'minLength', path) ?? 0;
        const max = this.int(schema, 'maxLength', path) ?? Infinity;
        if (min > max) throw new SchemaError(path, 'minLength is greater than maxLength');
        return this.add(new StringNode(min, max));
      }
      case 'number':
      case 'integer': {
        const bounds = {
          minimum: this.num(schema, 'minimum', path),
          maximum: this.num(schema, 'maximum', path),
          exclusiveMinimum: this.num(schema, 'exclusiveMinimum', path),
          exclusiveMaximum: this.num(schema, 'exclusiveMaximum', path),
        };
        try {
          return this.add(new NumberNode(type === 'integer', bounds));
        } catch (e) {
          throw new SchemaError(path, (e as Error).message);
        }
      }
      case 'array': {
        const min = this.int(schema, 'minItems', path) ?? 0;
        const max = this.int(schema, 'maxItems', path) ?? Infinity;
        if (min > max) throw new SchemaError(path, 'minItems is greater than maxItems');
        if (Array.isArray(schema.items)) throw new SchemaError(`${path}/items`, 'tuple items are not supported');
        const items = schema.items === undefined ? anyJsonObjectValue(this) : this.node(schema.items, `${path}/items`);
        return this.add(new ArrayNode(items, min, max));
      }
      case 'object': {
        const props = schema.properties;
        if (props !== undefined && !isObj(props)) throw new SchemaError(`${path}/properties`, 'properties must be an object');
        const required = schema.required ?? [];
        if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) throw new SchemaError(`${path}/required`, 'required must be an array of strings');
        const names = Object.keys(props ?? {});
        for (const r of required as string[]) {
          if (!names.includes(r)) throw new SchemaError(`${path}/required`, `required property "${r}" is not in properties`);
        }
        const ap = schema.additionalProperties;
        if (ap !== undefined && typeof ap !== 'boolean' && !isObj(ap)) throw new SchemaError(`${path}/additionalProperties`, 'must be a boolean or a schema');
        if (names.length === 0) {
          // a free-form object (no declared properties): any keys, values of the additionalProperties schema
          if (ap === false) return this.add(new LiteralNode('{}'));
          const value = isObj(ap) ? this.node(ap, `${path}/additionalProperties`) : anyJsonObjectValue(this);
          return this.add(new ObjectNode([], value));
        }
        // declared properties only, in schema order (extra keys are never needed to satisfy the schema)
        return this.add(
          new ObjectNode(
            names.map((key) => ({
              key,
              value: this.node((props as Json)[key], `${path}/properties/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`),
              required: (required as string[]).includes(key),
            })),
          ),
        );
      }
    }
    throw new SchemaError(path, `unknown type ${type}`);
  }
}

/** Any JSON value (unconstrained sub-schema), built once per compiler. */
function anyJsonObjectValue(c: { node: unknown }): Node {
  void c;
  const value = new RefNode();
  const obj = new ObjectNode([], value);
  const arr = new ArrayNode(value);
  const choice = new ChoiceNode([obj, arr, new StringNode(), new NumberNode(false), new LiteralNode('true'), new LiteralNode('false'), new LiteralNode('null')]);
  value.target = choice;
  settleMinLengths([value, obj, arr, ...choice.options, choice]);
  return choice;
}
