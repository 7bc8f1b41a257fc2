import { describe, expect, it } from 'vitest';
import {
  calculate,
  clockTool,
  convert,
  DEMO_TOOLS,
  demoToolSchemas,
  ExpressionError,
  findUnit,
  localTime,
  Rational,
  resolveTimeZone,
  runTool,
  UNITS,
  validateArguments,
  calculatorTool,
  unitConverterTool,
} from '../../src/tools/index.js';

describe('Rational', () => {
  it('parses decimals exactly and prints them back', () => {
    expect(Rational.parse('0.1').add(Rational.parse('0.2')).toDecimal()).toBe('0.3');
    expect(Rational.parse('-3.750').toDecimal()).toBe('-3.75');
    expect(Rational.parse('.5').toDecimal()).toBe('0.5');
    expect(Rational.parse('1e3').toDecimal()).toBe('1000');
    expect(Rational.parse('2.5E-2').toDecimal()).toBe('0.025');
    expect(() => Rational.parse('1.2.3')).toThrow();
    expect(() => Rational.parse('')).toThrow();
  });
  it('rounds non-terminating values half away from zero', () => {
    expect(new Rational(1n, 3n).toDecimal(4)).toBe('0.3333');
    expect(new Rational(2n, 3n).toDecimal(4)).toBe('0.6667');
    expect(new Rational(-2n, 3n).toDecimal(2)).toBe('-0.67');
    expect(new Rational(1n, 3n).toDecimal(0)).toBe('0');
    expect(new Rational(-1n, 1000n).toDecimal(2)).toBe('0');
  });
});

describe('calculator', () => {
  const cases: [string, string][] = [
    ['17 * 23', '391'],
    ['2 + 3 * 4', '14'],
    ['(2 + 3) * 4', '20'],
    ['10 / 4', '2.5'],
    ['10 / 3', '3.3333333333'],
    ['2 ^ 10', '1024'],
    ['2 ** 3 ** 2', '512'],
    ['-2 ^ 2', '-4'],
    ['2 ^ -1', '0.5'],
    ['(-2) ^ 3', '-8'],
    ['0.1 + 0.2', '0.3'],
    ['1.5 * 1.5', '2.25'],
    ['-(3 - 5)', '2'],
    ['7 - -3', '10'],
    ['123456789 * 987654321', '121932631112635269'],
    ['6 \u00f7 4 \u00d7 2', '3'],
    ['100 - 0.01', '99.99'],
    ['3.14159 * 2', '6.28318'],
  ];
  for (const [expr, want] of cases) it(`${expr} = ${want}`, () => expect(calculate(expr)).toBe(want));

  it('rejects malformed input with a message', () => {
    for (const bad of ['', '2 +', '(1 + 2', '1 + 2)', '2 $ 3', '3 4', '*5']) {
      expect(() => calculate(bad), bad).toThrow(ExpressionError);
    }
    expect(() => calculate('1 / 0')).toThrow(/division by zero/);
    expect(() => calculate('2 ^ 0.5')).toThrow(/whole-number/);
    expect(() => calculate('10 ^ 100000')).toThrow(/too large/);
    expect(() => calculate('('.repeat(200) + '1' + ')'.repeat(200))).toThrow(/nested/);
  });

  it('as a tool returns JSON results and errors', () => {
    expect(runTool('calculator', { expression: '17 * 23' })).toBe('{"result":"391"}');
    expect(runTool('calculator', '{"expression": "1/0"}')).toBe('{"error":"division by zero"}');
    expect(JSON.parse(runTool('calculator', {}))).toEqual({ error: "missing required argument 'expression'" });
    expect(JSON.parse(runTool('nope', {}))).toEqual({ error: "unknown tool 'nope'" });
    expect(JSON.parse(runTool('calculator', '{bad'))).toEqual({ error: 'arguments are not valid JSON' });
  });
});

describe('unit converter', () => {
  const cases: [number | string, string, string, string][] = [
    [5, 'mi', 'km', '8.04672'],
    [1, 'in', 'cm', '2.54'],
    [100, 'C', 'F', '212'],
    [-40, 'F', 'C', '-40'],
    [100, 'F', 'C', '37.77778'],
    [0, 'K', 'C', '-273.15'],
    [1, 'gal', 'l', '3.785412'],
    [2, 'lb', 'kg', '0.9071847'],
    [1, 'kg', 'lb', '2.204623'],
    [3, 'feet', 'Meters', '0.9144'],
    [1, 't', 'g', '1000000'],
    [1, 'mg', 't', '0.000000001'],
    ['2.5', 'cups', 'ml', '591.4706'],
    [12, 'fl oz', 'ml', '354.8824'],
    [1, '°C', 'kelvin', '274.15'],
  ];
  for (const [v, a, b, want] of cases) it(`${v} ${a} -> ${b} = ${want}`, () => expect(convert(v, a, b)).toBe(want));

  it('knows every unit under its own symbol, name and plural', () => {
    for (const u of UNITS) {
      expect(findUnit(u.symbol)?.symbol).toBe(u.symbol);
      expect(findUnit(u.name)?.symbol, u.name).toBe(u.symbol);
      expect(findUnit(u.plural)?.symbol, u.plural).toBe(u.symbol);
    }
  });

  it('refuses unknown units and mixed quantities', () => {
    expect(() => convert(1, 'km', 'kg')).toThrow(/cannot convert length/);
    expect(() => convert(1, 'parsec', 'km')).toThrow(/unknown unit 'parsec'/);
    expect(JSON.parse(runTool('unit_converter', { value: 1, from_unit: 'km', to_unit: 'lb' })).error).toMatch(/cannot convert/);
    expect(JSON.parse(runTool('unit_converter', { value: 5, from_unit: 'mi', to_unit: 'km' }))).toEqual({ result: '8.04672', unit: 'km' });
  });
});

describe('clock', () => {
  const now = () => new Date('2026-03-15T12:34:56Z');
  it('reads the injected clock in the requested zone', () => {
    expect(localTime(now(), 'Asia/Tokyo')).toEqual({ timezone: 'Asia/Tokyo', date: '2026-03-15', time: '21:34', weekday: 'Sunday' });
    expect(localTime(now(), 'America/Los_Angeles')).toEqual({ timezone: 'America/Los_Angeles', date: '2026-03-15', time: '05:34', weekday: 'Sunday' });
    const out = clockTool.execute({ timezone: 'Tokyo' }, { now });
    expect(out).toEqual({ ok: true, value: { timezone: 'Asia/Tokyo', date: '2026-03-15', time: '21:34', weekday: 'Sunday' } });
    expect(JSON.parse(runTool('get_current_time', { timezone: 'UTC' }, { now }))).toEqual({ timezone: 'UTC', date: '2026-03-15', time: '12:34', weekday: 'Sunday' });
  });
  it('resolves cities and rejects unknown zones', () => {
    expect(resolveTimeZone('new york')).toBe('America/New_York');
    expect(resolveTimeZone('Europe/Paris')).toBe('Europe/Paris');
    expect(resolveTimeZone('Mars/Olympus')).toBeUndefined();
    expect(JSON.parse(runTool('get_current_time', { timezone: 'Mars/Olympus' }, { now }))).toEqual({ error: "unknown time zone 'Mars/Olympus'" });
  });
});

describe('schemas', () => {
  it('are OpenAI function tools with required keys among the properties', () => {
    const schemas = demoToolSchemas();
    expect(schemas.map((s) => s.function.name)).toEqual(['calculator', 'unit_converter', 'get_current_time']);
    for (const s of schemas) {
      expect(s.type).toBe('function');
      expect(s.function.parameters.type).toBe('object');
      for (const r of s.function.parameters.required) expect(Object.keys(s.function.parameters.properties)).toContain(r);
    }
    expect(DEMO_TOOLS).toHaveLength(3);
    expect(() => demoToolSchemas(['calculator', 'weather'])).toThrow(/weather/);
  });
  it('validate argument types', () => {
    expect(validateArguments(calculatorTool, { expression: '1+1' })).toEqual([]);
    expect(validateArguments(calculatorTool, { expression: 3 })).toEqual(["argument 'expression' should be a string"]);
    expect(validateArguments(unitConverterTool, { value: '2.5', from_unit: 'km', to_unit: 'mi' })).toEqual([]);
    expect(validateArguments(unitConverterTool, { value: 'two', from_unit: 'km', to_unit: 'mi', x: 1 })).toEqual([
      "argument 'value' should be a number",
      "unknown argument 'x'",
    ]);
    expect(validateArguments(unitConverterTool, [])).toEqual(['arguments are not an object']);
  });
});
