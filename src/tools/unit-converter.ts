// The `unit_converter` demo tool: length, mass, volume (US customary) and temperature, with exact
// conversion factors (the inch, pound and US gallon are defined exactly in SI units), so results are
// exact rationals rounded only for display.
import { ArithmeticError, Rational } from './rational.js';
import type { DemoTool, ToolOutcome } from './types.js';

export type Quantity = 'length' | 'mass' | 'volume' | 'temperature';

/** A unit: its quantity and, for linear units, how many base units (m, kg, L) one of it is. */
export interface UnitInfo {
  symbol: string;
  name: string;
  plural: string;
  quantity: Quantity;
  /** Base units per unit (linear units only). */
  factor?: Rational;
}

const R = (s: string): Rational => Rational.parse(s);

/** Every unit the converter knows, by canonical symbol. */
export const UNITS: readonly UnitInfo[] = [
  { symbol: 'mm', name: 'millimeter', plural: 'millimeters', quantity: 'length', factor: R('0.001') },
  { symbol: 'cm', name: 'centimeter', plural: 'centimeters', quantity: 'length', factor: R('0.01') },
  { symbol: 'm', name: 'meter', plural: 'meters', quantity: 'length', factor: R('1') },
  { symbol: 'km', name: 'kilometer', plural: 'kilometers', quantity: 'length', factor: R('1000') },
  { symbol: 'in', name: 'inch', plural: 'inches', quantity: 'length', factor: R('0.0254') },
  { symbol: 'ft', name: 'foot', plural: 'feet', quantity: 'length', factor: R('0.3048') },
  { symbol: 'yd', name: 'yard', plural: 'yards', quantity: 'length', factor: R('0.9144') },
  { symbol: 'mi', name: 'mile', plural: 'miles', quantity: 'length', factor: R('1609.344') },
  { symbol: 'mg', name: 'milligram', plural: 'milligrams', quantity: 'mass', factor: R('0.000001') },
  { symbol: 'g', name: 'gram', plural: 'grams', quantity: 'mass', factor: R('0.001') },
  { symbol: 'kg', name: 'kilogram', plural: 'kilograms', quantity: 'mass', factor: R('1') },
  { symbol: 't', name: 'tonne', plural: 'tonnes', quantity: 'mass', factor: R('1000') },
  { symbol: 'oz', name: 'ounce', plural: 'ounces', quantity: 'mass', factor: R('0.028349523125') },
  { symbol: 'lb', name: 'pound', plural: 'pounds', quantity: 'mass', factor: R('0.45359237') },
  { symbol: 'ml', name: 'milliliter', plural: 'milliliters', quantity: 'volume', factor: R('0.001') },
  { symbol: 'l', name: 'liter', plural: 'liters', quantity: 'volume', factor: R('1') },
  { symbol: 'tsp', name: 'teaspoon', plural: 'teaspoons', quantity: 'volume', factor: R('0.00492892159375') },
  { symbol: 'tbsp', name: 'tablespoon', plural: 'tablespoons', quantity: 'volume', factor: R('0.01478676478125') },
  { symbol: 'fl_oz', name: 'fluid ounce', plural: 'fluid ounces', quantity: 'volume', factor: R('0.0295735295625') },
  { symbol: 'cup', name: 'cup', plural: 'cups', quantity: 'volume', factor: R('0.2365882365') },
  { symbol: 'pt', name: 'pint', plural: 'pints', quantity: 'volume', factor: R('0.473176473') },
  { symbol: 'qt', name: 'quart', plural: 'quarts', quantity: 'volume', factor: R('0.946352946') },
  { symbol: 'gal', name: 'gallon', plural: 'gallons', quantity: 'volume', factor: R('3.785411784') },
  { symbol: 'C', name: 'degree Celsius', plural: 'degrees Celsius', quantity: 'temperature' },
  { symbol: 'F', name: 'degree Fahrenheit', plural: 'degrees Fahrenheit', quantity: 'temperature' },
  { symbol: 'K', name: 'kelvin', plural: 'kelvins', quantity: 'temperature' },
];

const BY_SYMBOL = new Map(UNITS.map((u) => [u.symbol, u]));

// Other spellings accepted for each symbol (compared lower-cased, spaces/dots/degree signs dropped).
const ALIASES: Record<string, string[]> = {
  mm: ['millimeter', 'millimeters', 'millimetre', 'millimetres'],
  cm: ['centimeter', 'centimeters', 'centimetre', 'centimetres'],
  m: ['meter', 'meters', 'metre', 'metres'],
  km: ['kilometer', 'kilometers', 'kilometre', 'kilometres'],
  in: ['inch', 'inches'],
  ft: ['foot', 'feet'],
  yd: ['yard', 'yards'],
  mi: ['mile', 'miles'],
  mg: ['milligram', 'milligrams'],
  g: ['gram', 'grams'],
  kg: ['kilogram', 'kilograms', 'kilo', 'kilos'],
  t: ['tonne', 'tonnes', 'metricton', 'metrictons'],
  oz: ['ounce', 'ounces'],
  lb: ['lbs', 'pound', 'pounds'],
  ml: ['milliliter', 'milliliters', 'millilitre', 'millilitres'],
  l: ['liter', 'liters', 'litre', 'litres'],
  tsp: ['teaspoon', 'teaspoons'],
  tbsp: ['tablespoon', 'tablespoons'],
  fl_oz: ['floz', 'fluidounce', 'fluidounces'],
  cup: ['cups'],
  pt: ['pint', 'pints'],
  qt: ['quart', 'quarts'],
  gal: ['gallon', 'gallons'],
  C: ['c', 'celsius', 'degreescelsius', 'degreecelsius', 'centigrade'],
  F: ['f', 'fahrenheit', 'degreesfahrenheit', 'degreefahrenheit'],
  K: ['k', 'kelvin', 'kelvins'],
};

const LOOKUP = new Map<string, string>();
for (const [sym, names] of Object.entries(ALIASES)) {
  LOOKUP.set(sym.toLowerCase(), sym);
  for (const n of names) LOOKUP.set(n, sym);
}

/** Canonical unit for a spelling (`"Miles"`, `"°F"`, `"fl oz"`), or undefined. */
export function findUnit(text: string): UnitInfo | undefined {
  const key = text.toLowerCase().replace(/[\s._°-]/g, '');
  const sym = LOOKUP.get(key) ?? (key === 'floz' ? 'fl_oz' : undefined);
  return sym === undefined ? undefined : BY_SYMBOL.get(sym);
}

const KELVIN_OFFSET = R('273.15');
const NINE_FIFTHS = new Rational(9n, 5n);

function toKelvin(v: Rational, sym: string): Rational {
  if (sym === 'K') return v;
  if (sym === 'C') return v.add(KELVIN_OFFSET);
  return v.sub(new Rational(32n)).div(NINE_FIFTHS).add(KELVIN_OFFSET);
}

function fromKelvin(k: Rational, sym: string): Rational {
  if (sym === 'K') return k;
  const c = k.sub(KELVIN_OFFSET);
  if (sym === 'C') return c;
  return c.mul(NINE_FIFTHS).add(new Rational(32n));
}

/** Thrown for unknown units or units of different quantities. */
export class UnitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnitError';
  }
}

/** Converts exactly. @throws UnitError */
export function convertExact(value: Rational, from: string, to: string): Rational {
  const a = findUnit(from);
  if (!a) throw new UnitError(`unknown unit '${from}'`);
  const b = findUnit(to);
  if (!b) throw new UnitError(`unknown unit '${to}'`);
  if (a.quantity !== b.quantity) throw new UnitError(`cannot convert ${a.quantity} (${a.symbol}) to ${b.quantity} (${b.symbol})`);
  if (a.quantity === 'temperature') return fromKelvin(toKelvin(value, a.symbol), b.symbol);
  return value.mul(a.factor!).div(b.factor!);
}

/** Significant digits of displayed results. */
export const RESULT_SIGNIFICANT = 7;

/** Rounds to `sig` significant digits (never fewer than 0 decimals, never more than 15). */
export function formatSignificant(r: Rational, sig = RESULT_SIGNIFICANT): string {
  if (r.isZero()) return '0';
  const mag = Math.floor(Math.log10(Math.abs(r.toNumber())));
  const decimals = Math.min(15, Math.max(0, sig - 1 - mag));
  return r.toDecimal(decimals);
}

/** Converts and formats a value; `value` may be a number or numeric text. @throws UnitError, ArithmeticError */
export function convert(value: number | string, from: string, to: string): string {
  const v = typeof value === 'number' ? Rational.of(value) : Rational.parse(value);
  return formatSignificant(convertExact(v, from, to));
}

/** The `unit_converter` tool. */
export const unitConverterTool: DemoTool = {
  name: 'unit_converter',
  description: 'Convert a value between units of length, mass, volume or temperature.',
  parameters: {
    type: 'object',
    properties: {
      value: { type: 'number', description: 'The amount to convert' },
      from_unit: { type: 'string', description: 'Unit of the value, for example km, mi, lb, kg, C, F, l, gal' },
      to_unit: { type: 'string', description: 'Unit to convert to' },
    },
    required: ['value', 'from_unit', 'to_unit'],
  },
  execute(args): ToolOutcome {
    const { value, from_unit: from, to_unit: to } = args;
    if (typeof value !== 'number' && typeof value !== 'string') return { ok: false, error: "missing number argument 'value'" };
    if (typeof from !== 'string') return { ok: false, error: "missing string argument 'from_unit'" };
    if (typeof to !== 'string') return { ok: false, error: "missing string argument 'to_unit'" };
    try {
      const result = convert(value, from, to);
      return { ok: true, value: { result, unit: findUnit(to)!.symbol } };
    } catch (e) {
      if (e instanceof UnitError || e instanceof ArithmeticError) return { ok: false, error: e.message };
      throw e;
    }
  },
};
