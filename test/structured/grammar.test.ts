import { describe, expect, it } from 'vitest';
import { advance, anyJsonObject, compileSchema, END, SchemaError, type Node } from '../../src/structured/index.js';
import { ws } from '../../src/structured/grammar.js';

const enc = new TextEncoder();
/** Whether `text` is a complete value of `node`. */
const accepts = (node: Node, text: string): boolean => advance(ws(node.start(END)), enc.encode(text))?.accept === true;
/** Whether `text` is a prefix of some value of `node`. */
const prefix = (node: Node, text: string): boolean => advance(ws(node.start(END)), enc.encode(text)) !== null;

describe('JSON-schema grammar', () => {
  it('json_object accepts any object and nothing else', () => {
    const g = anyJsonObject();
    for (const ok of ['{}', '{"a":1}', '{ "a" : [1, 2.5e3, -0.1, "x\\n\\u00e9", true, null, {"b":{}}] }', '{"é":"日本"}']) expect(accepts(g, ok), ok).toBe(true);
    for (const bad of ['[]', '1', '"x"', '{"a":}', '{a:1}', '{"a":1,}', '{"a":01}', '{"a":"\x01"}', '{"a":1}}']) expect(accepts(g, bad), bad).toBe(false);
    expect(prefix(g, '{"a": [1, ')).toBe(true);
    expect(accepts(g, '{"a": [1, ')).toBe(false);
  });

  it('objects: properties in order, required enforced, no extra keys', () => {
    const g = compileSchema({ type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' }, tag: { type: 'string' } }, required: ['name', 'age'], additionalProperties: false });
    expect(accepts(g, '{"name":"Ann","age":3}')).toBe(true);
    expect(accepts(g, '{"name":"Ann","age":3,"tag":"x"}')).toBe(true);
    expect(accepts(g, '{"name":"Ann"}')).toBe(false);
    expect(accepts(g, '{"age":3,"name":"Ann"}')).toBe(false);
    expect(accepts(g, '{"name":"Ann","age":3.5}')).toBe(false);
    expect(accepts(g, '{"name":"Ann","age":3,"x":1}')).toBe(false);
  });

  it('enum, const, anyOf, nullable, arrays with limits, string lengths', () => {
    const g = compileSchema({
      type: 'object',
      properties: {
        unit: { enum: ['c', 'f'] },
        k: { const: 42 },
        v: { anyOf: [{ type: 'number' }, { type: 'null' }] },
        xs: { type: 'array', items: { type: 'boolean' }, minItems: 1, maxItems: 2 },
        s: { type: ['string', 'null'], minLength: 2, maxLength: 3 },
      },
      required: ['unit', 'k', 'v', 'xs', 's'],
    });
    expect(accepts(g, '{"unit":"c","k":42,"v":null,"xs":[true],"s":"ab"}')).toBe(true);
    expect(accepts(g, '{"unit":"f","k":42,"v":-1.5e2,"xs":[true,false],"s":null}')).toBe(true);
    expect(accepts(g, '{"unit":"k","k":42,"v":null,"xs":[true],"s":"ab"}')).toBe(false);
    expect(accepts(g, '{"unit":"c","k":41,"v":null,"xs":[true],"s":"ab"}')).toBe(false);
    expect(accepts(g, '{"unit":"c","k":42,"v":null,"xs":[],"s":"ab"}')).toBe(false);
    expect(accepts(g, '{"unit":"c","k":42,"v":null,"xs":[true,true,true],"s":"ab"}')).toBe(false);
    expect(accepts(g, '{"unit":"c","k":42,"v":null,"xs":[true],"s":"a"}')).toBe(false);
    expect(accepts(g, '{"unit":"c","k":42,"v":null,"xs":[true],"s":"abcd"}')).toBe(false);
  });

  it('integer bounds are enforced while typing', () => {
    const g = compileSchema({ type: 'integer', minimum: 10, maximum: 250 });
    expect(accepts(g, '10')).toBe(true);
    expect(accepts(g, '250')).toBe(true);
    expect(accepts(g, '9')).toBe(false);
    expect(prefix(g, '251')).toBe(false);
    expect(prefix(g, '3')).toBe(true); // 30-39
    expect(prefix(g, '-')).toBe(false);
    expect(prefix(g, '26')).toBe(true);
    expect(accepts(g, '260')).toBe(false);
  });

  it('recursive $ref through $defs', () => {
    const g = compileSchema({
      $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['v', 'kids'], additionalProperties: false } },
      $ref: '#/$defs/node',
    });
    expect(accepts(g, '{"v":1,"kids":[{"v":2,"kids":[]}]}')).toBe(true);
    expect(accepts(g, '{"v":1,"kids":[{"v":2}]}')).toBe(false);
  });

  it('min is the shortest completion', () => {
    const g = compileSchema({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'boolean' } }, required: ['a', 'b'] });
    const s = ws(g.start(END));
    expect(s.min).toBe('{"a":"","b":true}'.length);
    expect(advance(s, enc.encode('{"a":"xy'))!.min).toBe('","b":true}'.length);
  });

  it('unsupported keywords are refused with their path', () => {
    expect(() => compileSchema({ type: 'object', properties: { a: { type: 'string', pattern: '^x' } } })).toThrow(SchemaError);
    expect(() => compileSchema({ type: 'object', properties: { a: { type: 'string', pattern: '^x' } } })).toThrow(/properties\/a: the keyword "pattern"/);
    expect(() => compileSchema({ allOf: [] })).toThrow(/allOf/);
    expect(() => compileSchema({ type: 'strin' })).toThrow(/unknown type/);
    expect(() => compileSchema({ $ref: '#/$defs/missing' })).toThrow(/does not resolve/);
  });

  it('non-strict schemas compile best-effort, ignoring what the grammar cannot enforce', () => {
    const g = compileSchema({ type: 'object', properties: { when: { type: 'string', format: 'date-time' }, n: { type: 'number', multipleOf: 2 } }, required: ['when', 'n'] }, { lenient: true });
    expect(accepts(g, '{"when":"x","n":3}')).toBe(true);
    expect(accepts(g, '{"when":3,"n":3}')).toBe(false);
  });
});
