// Parameter typing by JSON schema and the Python-literal fallback.
import { describe, expect, it } from 'vitest';
import { encodeParameterValue, parsePythonLiteral } from '../../src/parsers/index.js';
import { PyFloat, pyJsonDumps } from '../../src/template/index.js';

const enc = encodeParameterValue;

describe('encodeParameterValue', () => {
  it('keeps strings raw, including number-like text and "null" unless nullable', () => {
    expect(enc('007', { type: 'string' })).toBe('"007"');
    expect(enc(' padded ', { type: 'string' })).toBe('" padded "');
    expect(enc('null', { type: 'string' })).toBe('"null"');
    expect(enc('null', { type: ['string', 'null'] })).toBe('null');
    expect(enc('null', { type: 'string', nullable: true })).toBe('null');
    expect(enc('null', { anyOf: [{ type: 'string' }, { type: 'null' }] })).toBe('null');
    expect(enc('c', { enum: ['c', 'f'] })).toBe('"c"');
    expect(enc('true', { type: 'text' })).toBe('"true"');
  });

  it('parses integers exactly and falls back to the string', () => {
    expect(enc('42', { type: 'integer' })).toBe('42');
    expect(enc(' +7 ', { type: 'integer' })).toBe('7');
    expect(enc('-0012', { type: 'int' })).toBe('-12');
    expect(enc('4.0', { type: 'integer' })).toBe('4');
    expect(enc('1e3', { type: 'integer' })).toBe('1000');
    expect(enc('99999999999999999999', { type: 'integer' })).toBe('99999999999999999999');
    expect(enc('4.5', { type: 'integer' })).toBe('"4.5"');
    expect(enc('many', { type: 'integer' })).toBe('"many"');
    expect(enc('null', { type: 'integer' })).toBe('null');
  });

  it('parses numbers with Python float formatting; integral values become ints', () => {
    expect(enc('3.50', { type: 'number' })).toBe('3.5');
    expect(enc('2.0', { type: 'number' })).toBe('2');
    expect(enc('1e-5', { type: 'float' })).toBe('1e-05');
    expect(enc('.5', { type: 'number' })).toBe('0.5');
    expect(enc('1e21', { type: 'number' })).toBe('1e+21');
    expect(enc('-0.0', { type: 'number' })).toBe('0');
    expect(enc('123456789012345678901234', { type: 'number' })).toBe('123456789012345678901234');
    expect(enc('1.5e300', { type: 'number' })).toBe('1.5e+300');
    expect(enc('1e999', { type: 'number' })).toBe('"1e999"');
    expect(enc('NaN', { type: 'number' })).toBe('"NaN"');
    expect(enc('12,5', { type: 'number' })).toBe('"12,5"');
  });

  it('parses booleans case-insensitively only when they are true/false', () => {
    expect(enc('True', { type: 'boolean' })).toBe('true');
    expect(enc(' FALSE ', { type: 'bool' })).toBe('false');
    expect(enc('yes', { type: 'boolean' })).toBe('"yes"');
    expect(enc('1', { type: 'boolean' })).toBe('"1"');
  });

  it('parses objects/arrays as JSON, then as Python literals, else keeps the string', () => {
    expect(enc('{"a": 1.0, "10": [true]}', { type: 'object' })).toBe('{"a": 1.0, "10": [true]}');
    expect(enc("{'a': None, 'b': (1, 2)}", { type: 'object' })).toBe('{"a": null, "b": [1, 2]}');
    expect(enc('[1, 2,]', { type: 'array' })).toBe('[1, 2]');
    expect(enc('not json', { type: 'array' })).toBe('"not json"');
    expect(enc('"quoted"', { type: 'object' })).toBe('"quoted"');
  });

  it('untyped or unknown parameters: JSON if possible, else the string', () => {
    expect(enc('[1, 2]', undefined)).toBe('[1, 2]');
    expect(enc('7', {})).toBe('7');
    expect(enc('hello', undefined)).toBe('"hello"');
    expect(enc("{'a': 1}", undefined)).toBe('"{\'a\': 1}"');
    expect(enc('x', { type: 'mystery' })).toBe('"x"');
    expect(enc('{"k": "v"}', { type: 'mystery' })).toBe('{"k": "v"}');
  });

  it('uses the first non-null type of a type list or anyOf', () => {
    expect(enc('5', { type: ['null', 'integer'] })).toBe('5');
    expect(enc('5', { oneOf: [{ type: 'null' }, { type: 'string' }] })).toBe('"5"');
    expect(enc('5', { anyOf: [{ type: ['number', 'null'] }] })).toBe('5');
  });

  it('escapes like json.dumps(ensure_ascii=False)', () => {
    expect(enc('é "q" \\ \u0001 🌧️', { type: 'string' })).toBe('"é \\"q\\" \\\\ \\u0001 🌧️"');
  });
});

describe('parsePythonLiteral', () => {
  const lit = (s: string) => {
    const v = parsePythonLiteral(s);
    return v === undefined ? undefined : pyJsonDumps(v, { ensureAscii: false });
  };
  it('reads Python containers, strings and constants', () => {
    expect(lit("{'a': True, 'b': None, 'c': [1, 2.5, -3e2], 2: 'x'}")).toBe('{"a": true, "b": null, "c": [1, 2.5, -300.0], "2": "x"}');
    expect(lit('("x",)')).toBe('["x"]');
    expect(lit("'it\\'s \\n \\x41 \\u00e9'")).toBe('"it\'s \\n A é"');
    expect(lit('"""tri\nple"""')).toBe('"tri\\nple"');
    expect(lit('1_000')).toBe('1000');
    expect(parsePythonLiteral('1.0')).toBeInstanceOf(PyFloat);
  });
  it('returns undefined for anything else', () => {
    for (const s of ['', 'abc', "{'a' 1}", '[1, 2', 'True False', 'f(x)', "'unterminated", '{"a": }']) {
      expect(parsePythonLiteral(s)).toBeUndefined();
    }
  });
});
