// The `calculator` demo tool: exact arithmetic on decimal numbers with + - * / ^ and parentheses.
// Precedence follows Python: ^ (or **) binds tighter than unary minus and is right-associative, so
// -2^2 = -4 and 2^-1 = 0.5.
import { ArithmeticError, Rational } from './rational.js';
import type { DemoTool, ToolOutcome } from './types.js';

/** Thrown for text that is not a valid arithmetic expression. */
export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

type Tok = { kind: 'num'; text: string; pos: number } | { kind: 'op'; text: string; pos: number };

const MAX_EXPRESSION_LENGTH = 500;
const MAX_DEPTH = 100;
/** Decimal places of non-terminating results. */
export const RESULT_DECIMALS = 10;

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
      if (!m) throw new ExpressionError(`bad number at position ${i + 1}`);
      out.push({ kind: 'num', text: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    if (src.startsWith('**', i)) {
      out.push({ kind: 'op', text: '^', pos: i });
      i += 2;
      continue;
    }
    const op = { '+': '+', '-': '-', '\u2212': '-', '*': '*', '\u00d7': '*', x: '*', '/': '/', '\u00f7': '/', '^': '^', '(': '(', ')': ')' }[c];
    if (op === undefined) throw new ExpressionError(`unexpected character '${c}' at position ${i + 1}`);
    out.push({ kind: 'op', text: op, pos: i });
    i++;
  }
  return out;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): Rational {
    if (this.toks.length === 0) throw new ExpressionError('empty expression');
    const v = this.expr();
    if (this.i < this.toks.length) throw new ExpressionError(`unexpected '${this.toks[this.i].text}' at position ${this.toks[this.i].pos + 1}`);
    return v;
  }

  private peek(): string | undefined {
    const t = this.toks[this.i];
    return t && t.kind === 'op' ? t.text : undefined;
  }

  private expr(): Rational {
    let v = this.term();
    for (let op = this.peek(); op === '+' || op === '-'; op = this.peek()) {
      this.i++;
      const r = this.term();
      v = op === '+' ? v.add(r) : v.sub(r);
    }
    return v;
  }

  private term(): Rational {
    let v = this.unary();
    for (let op = this.peek(); op === '*' || op === '/'; op = this.peek()) {
      this.i++;
      const r = this.unary();
      v = op === '*' ? v.mul(r) : v.div(r);
    }
    return v;
  }

  private unary(): Rational {
    const op = this.peek();
    if (op === '-' || op === '+') {
      this.i++;
      this.enter();
      const v = this.unary();
      this.depth--;
      return op === '-' ? v.neg() : v;
    }
    return this.power();
  }

  private power(): Rational {
    const base = this.primary();
    if (this.peek() === '^') {
      this.i++;
      this.enter();
      const e = this.unary();
      this.depth--;
      return base.pow(e);
    }
    return base;
  }

  private primary(): Rational {
    const t = this.toks[this.i];
    if (!t) throw new ExpressionError('expression ends too early');
    if (t.kind === 'num') {
      this.i++;
      return Rational.parse(t.text);
    }
    if (t.text === '(') {
      this.i++;
      this.enter();
      const v = this.expr();
      this.depth--;
      if (this.peek() !== ')') throw new ExpressionError('missing closing parenthesis');
      this.i++;
      return v;
    }
    throw new ExpressionError(`unexpected '${t.text}' at position ${t.pos + 1}`);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new ExpressionError('expression nested too deeply');
  }
}

/**
 * Evaluates an arithmetic expression exactly.
 * @throws ExpressionError for malformed text; ArithmeticError for division by zero or oversized results.
 */
export function evaluateExact(expression: string): Rational {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new ExpressionError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`);
  return new Parser(tokenize(expression)).parse();
}

/** Evaluates and formats: exact when the decimal terminates, else rounded to RESULT_DECIMALS places. */
export function calculate(expression: string): string {
  return evaluateExact(expression).toDecimal(RESULT_DECIMALS);
}

/** The `calculator` tool. */
export const calculatorTool: DemoTool = {
  name: 'calculator',
  description: 'Evaluate an arithmetic expression exactly. Supports + - * / ^ and parentheses on decimal numbers.',
  parameters: {
    type: 'object',
    properties: {
      expression: { type: 'string', description: 'The expression to evaluate, for example (12.5 + 3) * 4' },
    },
    required: ['expression'],
  },
  execute(args): ToolOutcome {
    const expression = args.expression;
    if (typeof expression !== 'string') return { ok: false, error: "missing string argument 'expression'" };
    try {
      return { ok: true, value: { result: calculate(expression) } };
    } catch (e) {
      if (e instanceof ExpressionError || e instanceof ArithmeticError) return { ok: false, error: e.message };
      throw e;
    }
  },
};
