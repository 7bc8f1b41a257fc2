// Exact rational arithmetic on BigInt, so the demo tools (and the training data computed with them)
// never carry binary floating-point error: 0.1 + 0.2 is 0.3 here.

/** Thrown for arithmetic that has no exact answer (division by zero, too-large results). */
export class ArithmeticError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArithmeticError';
  }
}

/** Largest number of decimal digits a numerator or denominator may grow to (keeps inputs from stalling the tool). */
export const MAX_DIGITS = 2000;

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function digits(n: bigint): number {
  return (n < 0n ? -n : n).toString().length;
}

/** An exact fraction num/den with den > 0, always in lowest terms. */
export class Rational {
  readonly num: bigint;
  readonly den: bigint;

  constructor(num: bigint, den: bigint = 1n) {
    if (den === 0n) throw new ArithmeticError('division by zero');
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = gcd(num, den);
    this.num = g > 1n ? num / g : num;
    this.den = g > 1n ? den / g : den;
    if (digits(this.num) > MAX_DIGITS || digits(this.den) > MAX_DIGITS) {
      throw new ArithmeticError(`number too large (more than ${MAX_DIGITS} digits)`);
    }
  }

  static readonly ZERO = new Rational(0n);
  static readonly ONE = new Rational(1n);

  static of(n: number | bigint): Rational {
    if (typeof n === 'bigint') return new Rational(n);
    if (!Number.isFinite(n)) throw new ArithmeticError(`not a finite number: ${n}`);
    return Rational.parse(String(n));
  }

  /** Parses a decimal literal: `12`, `-3.75`, `.5`, `1e3`, `2.5E-2`. */
  static parse(text: string): Rational {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
    if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new ArithmeticError(`not a number: '${text}'`);
    const intPart = m[2] || '0';
    const frac = m[3] ?? '';
    const exp = m[4] ? Number(m[4]) : 0;
    if (Math.abs(exp) > MAX_DIGITS) throw new ArithmeticError(`exponent too large in '${text}'`);
    let num = BigInt(intPart + frac);
    let den = 10n ** BigInt(frac.length);
    if (exp > 0) num *= 10n ** BigInt(exp);
    else if (exp < 0) den *= 10n ** BigInt(-exp);
    return new Rational(m[1] === '-' ? -num : num, den);
  }

  add(o: Rational): Rational {
    return new Rational(this.num * o.den + o.num * this.den, this.den * o.den);
  }
  sub(o: Rational): Rational {
    return new Rational(this.num * o.den - o.num * this.den, this.den * o.den);
  }
  mul(o: Rational): Rational {
    return new Rational(this.num * o.num, this.den * o.den);
  }
  div(o: Rational): Rational {
    if (o.num === 0n) throw new ArithmeticError('division by zero');
    return new Rational(this.num * o.den, this.den * o.num);
  }
  neg(): Rational {
    return new Rational(-this.num, this.den);
  }

  /** this ** e for an integer exponent (negative exponents take the reciprocal). */
  pow(e: Rational): Rational {
    if (e.den !== 1n) throw new ArithmeticError('only whole-number exponents are supported');
    let k = e.num;
    if (k === 0n) return Rational.ONE;
    const negative = k < 0n;
    if (negative) k = -k;
    if (this.num === 0n) {
      if (negative) throw new ArithmeticError('division by zero');
      return Rational.ZERO;
    }
    // Bound the result size before computing it: digits(result) ~ k * digits(base).
    const size = Math.max(digits(this.num), digits(this.den));
    const trivial = (this.num === 1n || this.num === -1n) && this.den === 1n;
    if (!trivial && (k > BigInt(MAX_DIGITS) || Number(k) * Math.max(1, size - 1) > MAX_DIGITS)) {
      throw new ArithmeticError(`number too large (more than ${MAX_DIGITS} digits)`);
    }
    const r = new Rational(this.num ** k, this.den ** k);
    return negative ? Rational.ONE.div(r) : r;
  }

  isZero(): boolean {
    return this.num === 0n;
  }
  isInteger(): boolean {
    return this.den === 1n;
  }
  sign(): number {
    return this.num === 0n ? 0 : this.num < 0n ? -1 : 1;
  }
  equals(o: Rational): boolean {
    return this.num === o.num && this.den === o.den;
  }

  /** True when the decimal expansion terminates (the denominator has no prime factor but 2 and 5). */
  isTerminating(): boolean {
    let d = this.den;
    while (d % 2n === 0n) d /= 2n;
    while (d % 5n === 0n) d /= 5n;
    return d === 1n;
  }

  /**
   * Decimal text, rounded half away from zero to at most `maxDecimals` places, trailing zeros removed:
   * 391, -3.75, 0.3333333333. `maxDecimals` = Infinity prints terminating values exactly.
   */
  toDecimal(maxDecimals = 10): string {
    const neg = this.num < 0n;
    const a = neg ? -this.num : this.num;
    let places: number;
    if (this.isTerminating()) {
      // Exact places needed: max power of 2 or 5 in the denominator.
      let d = this.den;
      let twos = 0;
      let fives = 0;
      while (d % 2n === 0n) {
        d /= 2n;
        twos++;
      }
      while (d % 5n === 0n) {
        d /= 5n;
        fives++;
      }
      places = Math.min(Math.max(twos, fives), maxDecimals);
    } else {
      places = maxDecimals;
    }
    if (!Number.isFinite(places)) throw new ArithmeticError('non-terminating decimal needs a finite number of places');
    const scale = 10n ** BigInt(places);
    const scaled = a * scale;
    let q = scaled / this.den;
    const r = scaled % this.den;
    if (r * 2n >= this.den) q += 1n;
    let s = q.toString();
    if (places > 0) {
      s = s.padStart(places + 1, '0');
      let int = s.slice(0, s.length - places);
      let frac = s.slice(s.length - places).replace(/0+$/, '');
      if (int === '') int = '0';
      s = frac ? `${int}.${frac}` : int;
    }
    if (s === '0') return '0';
    return neg ? `-${s}` : s;
  }

  /** Nearest float64 (for display or comparisons in tests only). */
  toNumber(): number {
    return Number(this.toDecimal(20));
  }
}
