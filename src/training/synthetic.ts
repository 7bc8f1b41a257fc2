/**
 * Seeded generator of synthetic chat conversations for the demo model, in OpenAI message format (tools list,
 * assistant `tool_calls` with JSON-string arguments, `tool` results, `reasoning_content`). Every number in an
 * answer comes from running the demo tools' own code (src/tools), never from the generator's guesses.
 *
 * Coverage: short reasoning then answer (thinking on), direct answers (thinking off), arithmetic and unit
 * conversion through the tools, the clock, declining requests no available tool can serve, tool errors,
 * parallel calls and multi-turn follow-ups. The same seed always gives the same conversations.
 */
import { Rng } from '../engine/rng.js';
import { calculate, CITY_ZONES, demoToolSchemas, findUnit, runTool, type OpenAIFunctionTool } from '../tools/index.js';
import { FACTS, SMALL_TALK, SYSTEM_PROMPTS, UNSERVABLE } from './phrases.js';

/** An OpenAI-format tool call as a client sends it (arguments as a JSON string). */
export interface ToolCallMessage {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** An OpenAI-format chat message. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCallMessage[];
  tool_call_id?: string;
}

/** The kinds of user turn the generator writes. */
export type TurnKind =
  | 'calc'
  | 'calc_followup'
  | 'calc_no_tool'
  | 'calc_error'
  | 'parallel_calc'
  | 'unit'
  | 'unit_followup'
  | 'unit_error'
  | 'unit_no_tool'
  | 'clock'
  | 'clock_followup'
  | 'clock_no_tool'
  | 'fact'
  | 'smalltalk'
  | 'unservable';

/** What a correct assistant does in reply to one user turn (used by the eval). */
export interface TurnExpectation {
  kind: TurnKind;
  /** Index of the user message in `messages`. */
  userIndex: number;
  /** Tool calls the assistant should make first (empty: it should answer directly). */
  calls: { name: string; arguments: Record<string, unknown> }[];
  /** Text the final answer must contain (a computed result), when there is one. */
  answerIncludes?: string[];
}

/** One synthetic conversation. */
export interface Conversation {
  id: string;
  /** Tools offered to the model (null: none). */
  tools: OpenAIFunctionTool[] | null;
  messages: ChatMessage[];
  /** True when the assistant turns carry reasoning (render with enable_thinking = true). */
  thinking: boolean;
  turns: TurnExpectation[];
}

export interface SyntheticOptions {
  seed: number;
  count: number;
  /** Restrict first turns to these kinds (default: the full mix). */
  kinds?: readonly TurnKind[];
  /** Force thinking on or off (default: random, about 55 % on). */
  thinking?: boolean;
  /** Force the number of user turns (default: 1-3, mostly 1). */
  turns?: number;
}

// ---------------------------------------------------------------------------------------------------------
// Randomness

class Dice {
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  float(): number {
    return this.rng.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rng.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.rng.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng.next() * items.length)];
  }
  weighted<T extends string>(weights: Partial<Record<T, number>>): T {
    const entries = Object.entries(weights) as [T, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = this.rng.next() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1][0];
  }
  shuffle<T>(items: readonly T[]): T[] {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(0, 15)];
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Conversation builder

interface Context {
  lastResult?: string;
  lastUnit?: { value: string; from: string; to: string };
  lastCity?: string;
}

class Builder {
  readonly messages: ChatMessage[] = [];
  readonly turns: TurnExpectation[] = [];
  readonly ctx: Context = {};
  constructor(
    readonly d: Dice,
    readonly thinking: boolean,
    readonly tools: ReadonlySet<string>,
    readonly now: Date,
  ) {}

  user(text: string, kind: TurnKind, calls: TurnExpectation['calls'] = [], answerIncludes?: string[]): void {
    this.turns.push({ kind, userIndex: this.messages.length, calls, answerIncludes });
    this.messages.push({ role: 'user', content: text });
  }

  /** An assistant step that calls tools, followed by the tools' results (run by the real tool code). */
  call(reasoning: string, calls: { name: string; arguments: Record<string, unknown> }[]): Record<string, unknown>[] {
    const msg: ChatMessage = {
      role: 'assistant',
      content: null,
      tool_calls: calls.map((c) => ({ id: `call_${this.d.hex(24)}`, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
    };
    if (this.thinking) msg.reasoning_content = reasoning;
    this.messages.push(msg);
    return msg.tool_calls!.map((tc, i) => {
      const content = runTool(calls[i].name, calls[i].arguments, { now: () => this.now });
      this.messages.push({ role: 'tool', tool_call_id: tc.id, content });
      return JSON.parse(content) as Record<string, unknown>;
    });
  }

  say(reasoning: string, text: string): void {
    const msg: ChatMessage = { role: 'assistant', content: text };
    if (this.thinking) msg.reasoning_content = reasoning;
    this.messages.push(msg);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Arithmetic

const OP_WORDS: Record<string, string[]> = {
  '+': ['plus'],
  '-': ['minus'],
  '*': ['times', 'multiplied by'],
  '/': ['divided by'],
};

function number(d: Dice, maxDigits = 4): string {
  const digits = d.weighted({ 1: 2, 2: 4, 3: 3, 4: 1, 5: maxDigits >= 5 ? 0.5 : 0 } as Record<string, number>);
  const n = Number(digits);
  const lo = n === 1 ? 1 : 10 ** (n - 1);
  let s = String(d.int(lo, 10 ** n - 1));
  if (d.chance(0.12)) s += `.${d.int(1, 99)}`.replace(/0+$/, '');
  return s;
}

interface CalcProblem {
  /** Canonical expression sent to the calculator. */
  expression: string;
  /** The user's request. */
  question: string;
  /** How the reasoning names it. */
  words: string;
  /** Builds the answer sentence from the result. */
  answer: (r: string) => string;
}

function calcProblem(d: Dice): CalcProblem {
  const form = d.weighted({ binary: 55, ternary: 12, power: 8, percent: 8, story: 17 });
  const ask = (e: string): string =>
    d.pick([`What is ${e}?`, `What is ${e}?`, `Calculate ${e}.`, `Can you calculate ${e}?`, `How much is ${e}?`, `Compute ${e}.`, `What's ${e}?`, `${e} = ?`, `Please work out ${e}.`, `what is ${e}`]);
  const plain = (expr: string) => (r: string) => d.pick([`${expr} = ${r}.`, `The answer is ${r}.`, `${expr} is ${r}.`, `The result is ${r}.`]);
  if (form === 'binary') {
    const op = d.pick(['+', '-', '*', '/', '*', '+']);
    let a = number(d);
    let b = number(d);
    if (op === '*') b = number(d, 3);
    if (op === '/') {
      if (d.chance(0.7)) {
        const q = String(d.int(2, 999));
        b = String(d.int(2, 60));
        a = calculate(`${q} * ${b}`);
      } else b = String(d.int(2, 40));
    }
    const expression = `${a} ${op} ${b}`;
    const style = d.weighted({ symbols: 5, compact: 2, words: 3 });
    const shown = style === 'symbols' ? expression : style === 'compact' ? `${a}${op === '*' && d.chance(0.4) ? 'x' : op}${b}` : `${a} ${d.pick(OP_WORDS[op])} ${b}`;
    return { expression, question: ask(shown), words: style === 'words' ? shown : expression, answer: style === 'words' ? (r) => d.pick([`${shown} is ${r}.`, `${expression} = ${r}.`]) : plain(expression) };
  }
  if (form === 'ternary') {
    const [a, b, c] = [number(d, 3), number(d, 3), String(d.int(2, 99))];
    const expression = d.pick([`(${a} + ${b}) * ${c}`, `${a} * ${b} + ${c}`, `${a} + ${b} * ${c}`, `(${a} - ${b}) * ${c}`, `${a} * (${b} - ${c})`, `(${a} + ${b}) / ${c}`]);
    return { expression, question: ask(expression), words: expression, answer: plain(expression) };
  }
  if (form === 'power') {
    const [a, k] = [d.int(2, 15), d.int(2, 6)];
    const expression = `${a} ^ ${k}`;
    const shown = d.pick([expression, `${a}^${k}`, `${a} to the power of ${k}`]);
    return { expression, question: ask(shown), words: shown, answer: (r) => d.pick([`${shown} is ${r}.`, `${expression} = ${r}.`]) };
  }
  if (form === 'percent') {
    const p = d.pick(['5', '10', '12', '15', '20', '25', '30', '40', '50', '75', '8', '18', '2.5']);
    const n = String(d.int(2, 2000));
    const expression = `${n} * ${p} / 100`;
    const shown = `${p}% of ${n}`;
    return { expression, question: ask(shown), words: shown, answer: (r) => d.pick([`${shown} is ${r}.`, `The answer is ${r}.`]) };
  }
  // short word problems
  const story = d.int(0, 4);
  const a = String(d.int(2, 250));
  const b = String(d.int(2, 99));
  if (story === 0) {
    return {
      expression: `${a} * ${b}`,
      question: `I have ${a} boxes with ${b} apples in each box. How many apples do I have?`,
      words: `${a} boxes times ${b} apples`,
      answer: (r) => `You have ${r} apples.`,
    };
  }
  if (story === 1) {
    const price = d.chance(0.5) ? `${d.int(1, 99)}.${d.pick(['5', '25', '75', '99', '49'])}` : String(d.int(2, 120));
    return {
      expression: `${price} * ${b}`,
      question: `One ticket costs ${price} dollars. How much do ${b} tickets cost?`,
      words: `${b} tickets at ${price} dollars each`,
      answer: (r) => `${b} tickets cost ${r} dollars.`,
    };
  }
  if (story === 2) {
    const big = String(d.int(100, 5000));
    const spent = String(d.int(1, Number(big) - 1));
    return {
      expression: `${big} - ${spent}`,
      question: `I had ${big} dollars and spent ${spent}. How much money is left?`,
      words: `${big} minus ${spent}`,
      answer: (r) => `You have ${r} dollars left.`,
    };
  }
  if (story === 3) {
    const people = String(d.int(2, 12));
    const total = d.chance(0.7) ? calculate(`${d.int(2, 300)} * ${people}`) : String(d.int(10, 999));
    return {
      expression: `${total} / ${people}`,
      question: `We need to split ${total} dollars between ${people} people. How much does each person get?`,
      words: `${total} divided by ${people}`,
      answer: (r) => `Each person gets ${r} dollars.`,
    };
  }
  const speed = String(d.int(20, 130));
  const hours = d.pick(['2', '3', '4', '1.5', '2.5', '5', '6']);
  return {
    expression: `${speed} * ${hours}`,
    question: `A car drives at ${speed} km per hour for ${hours} hours. How far does it go?`,
    words: `${speed} km per hour times ${hours} hours`,
    answer: (r) => `The car goes ${r} km.`,
  };
}

function calcTurn(b: Builder): void {
  const { d } = b;
  const p = calcProblem(d);
  const result = calculate(p.expression);
  const call = { name: 'calculator', arguments: { expression: p.expression } };
  b.user(p.question, 'calc', [call], [result]);
  const why = d.pick([
    `The user wants ${p.words}. I will use the calculator to get the exact result.`,
    `I need to compute ${p.expression}. The calculator tool can do this exactly.`,
    `This is arithmetic: ${p.expression}. I should call the calculator.`,
  ]);
  const [out] = b.call(why, [call]);
  const r = String(out.result);
  b.say(d.pick([`The calculator returned ${r}.`, `The result is ${r}. I can answer now.`, `The tool says ${r}.`]), p.answer(r));
  b.ctx.lastResult = r;
}

function calcFollowupTurn(b: Builder): void {
  const { d } = b;
  const last = b.ctx.lastResult!;
  const k = String(d.int(2, 20));
  const [op, text] = d.pick<[string, string]>([
    ['*', d.pick([`Now multiply that by ${k}.`, `And what is that times ${k}?`, `Multiply it by ${k}.`])],
    ['+', d.pick([`Add ${k} to that.`, `Now add ${k}.`, `And plus ${k}?`])],
    ['-', d.pick([`Subtract ${k} from that.`, `Now take away ${k}.`])],
    ['/', d.pick([`Divide that by ${k}.`, `Now divide it by ${k}.`])],
  ]);
  const expression = `${last} ${op} ${k}`;
  const result = calculate(expression);
  const call = { name: 'calculator', arguments: { expression } };
  b.user(text, 'calc_followup', [call], [result]);
  const [out] = b.call(d.pick([`The previous result was ${last}. Now I need ${expression}. I will use the calculator.`, `The user wants ${expression}, using the last result ${last}. I will call the calculator.`]), [call]);
  const r = String(out.result);
  b.say(`The calculator returned ${r}.`, d.pick([`${expression} = ${r}.`, `That gives ${r}.`, `The result is ${r}.`]));
  b.ctx.lastResult = r;
}

function calcNoToolTurn(b: Builder): void {
  const { d } = b;
  const a = d.int(1, 12);
  const c = d.int(1, 12);
  const op = d.pick(['+', '*', '-']);
  const hard = d.chance(0.5);
  if (!hard) {
    const expression = `${a} ${op} ${c}`;
    const r = calculate(expression);
    b.user(d.pick([`What is ${expression}?`, `What is ${a} ${OP_WORDS[op][0]} ${c}?`, `${expression} = ?`]), 'calc_no_tool', [], [r]);
    b.say(`This is simple: ${expression} = ${r}. I can answer without a tool.`, d.pick([`${expression} = ${r}.`, `The answer is ${r}.`]));
    return;
  }
  const p = calcProblem(d);
  b.user(p.question, 'calc_no_tool');
  b.say(
    `The user wants ${p.words}. I do not have a calculator tool, so I cannot be sure of an exact result.`,
    d.pick([`I don't have a calculator tool here, so I can't give an exact answer to ${p.expression}.`, `Sorry, I can't compute ${p.expression} exactly without a calculator tool.`]),
  );
}

function calcErrorTurn(b: Builder): void {
  const { d } = b;
  const a = String(d.int(1, 999));
  const expression = `${a} / 0`;
  const call = { name: 'calculator', arguments: { expression } };
  b.user(d.pick([`What is ${a} divided by 0?`, `What is ${expression}?`, `Calculate ${expression}.`]), 'calc_error', [call]);
  b.call(`The user wants ${expression}. I will use the calculator.`, [call]);
  b.say('The calculator reports division by zero.', d.pick([`${a} / 0 has no answer: you can't divide by zero.`, `Dividing by zero is not defined, so ${expression} has no result.`]));
}

function parallelCalcTurn(b: Builder): void {
  const { d } = b;
  const e1 = `${number(d, 3)} ${d.pick(['+', '*', '-'])} ${number(d, 2)}`;
  const e2 = `${number(d, 3)} ${d.pick(['+', '*', '-'])} ${number(d, 2)}`;
  const calls = [
    { name: 'calculator', arguments: { expression: e1 } },
    { name: 'calculator', arguments: { expression: e2 } },
  ];
  b.user(d.pick([`What is ${e1} and what is ${e2}?`, `Calculate ${e1} and ${e2}.`]), 'parallel_calc', calls, [calculate(e1), calculate(e2)]);
  const outs = b.call('There are two calculations. I will call the calculator for each one.', calls);
  const [r1, r2] = outs.map((o) => String(o.result));
  b.say(`The results are ${r1} and ${r2}.`, `${e1} = ${r1} and ${e2} = ${r2}.`);
}

// ---------------------------------------------------------------------------------------------------------
// Units

const UNIT_PAIRS: [string, string][] = [
  ['km', 'mi'], ['mi', 'km'], ['m', 'ft'], ['ft', 'm'], ['cm', 'in'], ['in', 'cm'], ['yd', 'm'], ['m', 'yd'], ['mm', 'in'], ['km', 'm'], ['m', 'cm'],
  ['kg', 'lb'], ['lb', 'kg'], ['g', 'oz'], ['oz', 'g'], ['kg', 'g'], ['t', 'kg'], ['lb', 'oz'],
  ['l', 'gal'], ['gal', 'l'], ['ml', 'fl_oz'], ['fl_oz', 'ml'], ['cup', 'ml'], ['l', 'qt'], ['tbsp', 'ml'], ['tsp', 'ml'], ['l', 'ml'], ['pt', 'l'],
  ['C', 'F'], ['F', 'C'], ['C', 'K'], ['K', 'C'], ['F', 'K'],
];

function unitName(sym: string, value: string): string {
  const u = findUnit(sym)!;
  return value === '1' || value === '-1' ? u.name : u.plural;
}

/** How a user may write a unit: its plural/singular name, or its symbol. */
function unitShown(d: Dice, sym: string, value: string): string {
  const u = findUnit(sym)!;
  if (u.quantity === 'temperature') return d.pick([u.plural, `°${sym}`, sym === 'K' ? 'kelvin' : u.plural.replace('degrees ', '')]);
  return d.chance(0.65) ? unitName(sym, value) : sym === 'fl_oz' ? 'fl oz' : sym;
}

function unitValue(d: Dice, from: string): string {
  if (findUnit(from)!.quantity === 'temperature') return String(d.pick([d.int(-40, 120), d.int(0, 40), d.int(50, 110)]));
  if (d.chance(0.15)) return `${d.int(0, 50)}.${d.pick(['5', '25', '75', '2', '8'])}`;
  return String(d.pick([d.int(1, 10), d.int(1, 100), d.int(10, 1000)]));
}

function unitTurn(b: Builder): void {
  const { d } = b;
  const [from, to] = d.pick(UNIT_PAIRS);
  const v = unitValue(d, from);
  const shownFrom = unitShown(d, from, v);
  const shownTo = unitShown(d, to, '2');
  const question = d.pick([
    `Convert ${v} ${shownFrom} to ${shownTo}.`,
    `How many ${unitName(to, '2')} is ${v} ${shownFrom}?`,
    `What is ${v} ${shownFrom} in ${shownTo}?`,
    `${v} ${shownFrom} in ${shownTo}?`,
    `Can you convert ${v} ${shownFrom} into ${shownTo}?`,
  ]);
  const args = { value: Number(v), from_unit: from, to_unit: to };
  const call = { name: 'unit_converter', arguments: args };
  b.user(question, 'unit', [call]);
  const [out] = b.call(
    d.pick([
      `The user wants to convert ${v} ${unitName(from, v)} to ${unitName(to, '2')}. I will use the unit converter.`,
      `This is a unit conversion from ${from} to ${to}. The unit_converter tool does this.`,
    ]),
    [call],
  );
  const r = String(out.result);
  b.turns[b.turns.length - 1].answerIncludes = [r];
  b.say(`The converter returned ${r} ${to}.`, d.pick([`${v} ${unitName(from, v)} is ${r} ${unitName(to, r)}.`, `That is ${r} ${unitName(to, r)}.`, `${v} ${from} = ${r} ${to}.`]));
  b.ctx.lastUnit = { value: v, from, to };
}

function unitFollowupTurn(b: Builder): void {
  const { d } = b;
  const { value: v, from, to } = b.ctx.lastUnit!;
  const q = findUnit(from)!.quantity;
  const options = [...new Set(UNIT_PAIRS.flatMap((p) => p))].filter((s) => s !== from && s !== to && findUnit(s)!.quantity === q);
  if (options.length === 0) return unitTurn(b);
  const to2 = d.pick(options);
  const call = { name: 'unit_converter', arguments: { value: Number(v), from_unit: from, to_unit: to2 } };
  b.user(d.pick([`And in ${unitName(to2, '2')}?`, `What about in ${unitName(to2, '2')}?`, `Now convert it to ${unitName(to2, '2')}.`]), 'unit_followup', [call]);
  const [out] = b.call(`The user now wants the same ${v} ${unitName(from, v)} in ${unitName(to2, '2')}. I will use the unit converter again.`, [call]);
  const r = String(out.result);
  b.turns[b.turns.length - 1].answerIncludes = [r];
  b.say(`The converter returned ${r} ${to2}.`, `${v} ${unitName(from, v)} is ${r} ${unitName(to2, r)}.`);
  b.ctx.lastUnit = { value: v, from, to: to2 };
}

function unitErrorTurn(b: Builder): void {
  const { d } = b;
  const pairs: [string, string][] = [['kg', 'km'], ['l', 'm'], ['C', 'kg'], ['mi', 'gal'], ['lb', 'ft']];
  const [from, to] = d.pick(pairs);
  const v = String(d.int(1, 100));
  const call = { name: 'unit_converter', arguments: { value: Number(v), from_unit: from, to_unit: to } };
  b.user(`Convert ${v} ${unitName(from, v)} to ${unitName(to, '2')}.`, 'unit_error', [call]);
  b.call(`The user wants ${v} ${from} in ${to}. I will try the unit converter.`, [call]);
  const [qa, qb] = [findUnit(from)!.quantity, findUnit(to)!.quantity];
  b.say(`The converter says ${qa} cannot be converted to ${qb}.`, `I can't convert ${unitName(from, '2')} to ${unitName(to, '2')}: one measures ${qa} and the other measures ${qb}.`);
}

function unitNoToolTurn(b: Builder): void {
  const { d } = b;
  const [from, to] = d.pick(UNIT_PAIRS);
  const v = unitValue(d, from);
  b.user(`Convert ${v} ${unitShown(d, from, v)} to ${unitShown(d, to, '2')}.`, 'unit_no_tool');
  b.say(
    `The user wants a unit conversion, but I do not have a unit converter tool.`,
    d.pick([`I don't have a unit conversion tool, so I can't convert ${v} ${unitName(from, v)} to ${unitName(to, '2')} exactly.`, `Sorry, I can't do unit conversions without a unit converter tool.`]),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Clock

const CITIES = Object.keys(CITY_ZONES);

function clockTurn(b: Builder, followup = false): void {
  const { d } = b;
  const city = followup ? d.pick(CITIES.filter((c) => c !== b.ctx.lastCity)) : d.pick(CITIES);
  const zone = CITY_ZONES[city];
  const ask = followup ? 'time' : d.weighted({ time: 6, date: 2, weekday: 1, utc: 1 });
  const label = ask === 'utc' ? 'UTC' : city;
  const tz = ask === 'utc' ? 'UTC' : zone;
  const question = followup
    ? d.pick([`And in ${city}?`, `What about ${city}?`, `And what time is it in ${city}?`])
    : ask === 'time'
      ? d.pick([`What time is it in ${city}?`, `What's the time in ${city} right now?`, `Tell me the current time in ${city}.`, `what time is it in ${city}`])
      : ask === 'date'
        ? d.pick([`What is the date today in ${city}?`, `What's today's date in ${city}?`])
        : ask === 'weekday'
          ? `What day of the week is it in ${city}?`
          : d.pick(['What time is it in UTC?', 'What is the current UTC time?']);
  const call = { name: 'get_current_time', arguments: { timezone: tz } };
  b.user(question, followup ? 'clock_followup' : 'clock', [call]);
  const why =
    ask === 'utc'
      ? 'The user wants the current UTC time. I will call the clock tool with UTC.'
      : `The user wants the current ${ask === 'time' ? 'time' : ask === 'date' ? 'date' : 'day'} in ${city}. The time zone of ${city} is ${zone}. I will call the clock tool.`;
  const [out] = b.call(why, [call]);
  const { time, date, weekday } = out as { time: string; date: string; weekday: string };
  b.turns[b.turns.length - 1].answerIncludes = [ask === 'date' ? date : ask === 'weekday' ? weekday : time];
  const answer =
    ask === 'date'
      ? `Today is ${weekday}, ${date} in ${label}.`
      : ask === 'weekday'
        ? `It is ${weekday} in ${label}.`
        : d.pick([`It is ${time} in ${label} right now (${weekday}, ${date}).`, `The current time in ${label} is ${time}.`, `In ${label} it is ${time} on ${weekday}, ${date}.`]);
  b.say(`The tool says it is ${time} on ${weekday}, ${date}.`, answer);
  b.ctx.lastCity = city;
}

function clockNoToolTurn(b: Builder): void {
  const { d } = b;
  const city = d.pick(CITIES);
  b.user(d.pick([`What time is it in ${city}?`, `What's the date today?`, `What time is it now?`]), 'clock_no_tool');
  b.say(
    'The user wants the current time, but I do not have a clock tool.',
    d.pick([`I can't tell the current time because I don't have a clock tool.`, `Sorry, I don't have access to a clock, so I can't tell you the time.`]),
  );
}

// ---------------------------------------------------------------------------------------------------------
// No-tool turns

function capabilities(tools: ReadonlySet<string>): string {
  const parts: string[] = [];
  if (tools.has('calculator')) parts.push('calculations');
  if (tools.has('unit_converter')) parts.push('unit conversions');
  if (tools.has('get_current_time')) parts.push('the current time');
  if (parts.length === 0) return 'I can answer simple questions from what I know.';
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `I can help with ${list}.`;
}

function factTurn(b: Builder): void {
  const { d } = b;
  const f = d.pick(FACTS);
  b.user(d.pick(f.questions), 'fact');
  b.say(f.reasoning, f.answer);
}

function smallTalkTurn(b: Builder): void {
  const { d } = b;
  const f = d.pick(SMALL_TALK);
  b.user(d.pick(f.questions), 'smalltalk');
  b.say(f.reasoning, f.answer);
}

function unservableTurn(b: Builder): void {
  const { d } = b;
  const [text, need] = d.pick(UNSERVABLE);
  b.user(text.replace('{city}', d.pick(CITIES)), 'unservable');
  const reason = `The user wants me to ${need}. None of my tools can ${need}, so I cannot do it.`;
  const answer = `${d.pick([`Sorry, I can't ${need}`, `I'm not able to ${need}`, `I can't ${need}`])}: I don't have a tool for that. ${capabilities(b.tools)}`;
  b.say(reason, answer);
}

// ---------------------------------------------------------------------------------------------------------
// Conversations

const TOOL_OF: Partial<Record<TurnKind, string>> = {
  calc: 'calculator',
  calc_error: 'calculator',
  parallel_calc: 'calculator',
  unit: 'unit_converter',
  unit_error: 'unit_converter',
  clock: 'get_current_time',
};
const NO_TOOL_VARIANT: Partial<Record<TurnKind, TurnKind>> = {
  calc: 'calc_no_tool',
  calc_error: 'calc_no_tool',
  parallel_calc: 'calc_no_tool',
  unit: 'unit_no_tool',
  unit_error: 'unit_no_tool',
  clock: 'clock_no_tool',
};

const FIRST_TURN_WEIGHTS: Partial<Record<TurnKind, number>> = {
  calc: 30,
  unit: 17,
  clock: 12,
  fact: 13,
  smalltalk: 8,
  unservable: 8,
  parallel_calc: 3,
  calc_error: 2,
  unit_error: 2,
};

function runTurn(b: Builder, kind: TurnKind): void {
  switch (kind) {
    case 'calc': return calcTurn(b);
    case 'calc_followup': return calcFollowupTurn(b);
    case 'calc_no_tool': return calcNoToolTurn(b);
    case 'calc_error': return calcErrorTurn(b);
    case 'parallel_calc': return parallelCalcTurn(b);
    case 'unit': return unitTurn(b);
    case 'unit_followup': return unitFollowupTurn(b);
    case 'unit_error': return unitErrorTurn(b);
    case 'unit_no_tool': return unitNoToolTurn(b);
    case 'clock': return clockTurn(b);
    case 'clock_followup': return clockTurn(b, true);
    case 'clock_no_tool': return clockNoToolTurn(b);
    case 'fact': return factTurn(b);
    case 'smalltalk': return smallTalkTurn(b);
    case 'unservable': return unservableTurn(b);
  }
}

/** Picks a turn kind that fits the available tools (a missing tool mostly leads to another kind, sometimes to a decline). */
function chooseKind(d: Dice, tools: ReadonlySet<string>, allowed: readonly TurnKind[] | undefined, prev: TurnKind | undefined, ctx: Context): TurnKind {
  if (prev && !allowed) {
    const follow: Partial<Record<TurnKind, number>> = {};
    if (ctx.lastResult !== undefined && prev.startsWith('calc') && tools.has('calculator')) follow.calc_followup = 6;
    if (ctx.lastUnit && prev.startsWith('unit') && tools.has('unit_converter')) follow.unit_followup = 5;
    if (ctx.lastCity && prev.startsWith('clock') && tools.has('get_current_time')) follow.clock_followup = 5;
    if (Object.keys(follow).length && d.chance(0.6)) return d.weighted(follow);
    if (d.chance(0.15)) return 'smalltalk';
  }
  for (;;) {
    const weights = allowed ? Object.fromEntries(allowed.map((k) => [k, FIRST_TURN_WEIGHTS[k] ?? 5])) : FIRST_TURN_WEIGHTS;
    const kind = d.weighted(weights as Partial<Record<TurnKind, number>>);
    const tool = TOOL_OF[kind];
    if (!tool || tools.has(tool)) return kind;
    if (allowed) return NO_TOOL_VARIANT[kind]!;
    if (d.chance(0.3)) return NO_TOOL_VARIANT[kind]!;
  }
}

const ALL_TOOLS = ['calculator', 'unit_converter', 'get_current_time'];

function toolSet(d: Dice, firstKind?: TurnKind): string[] {
  const shape = d.weighted({ all: 50, one: 22, two: 10, none: 18 });
  let names: string[] = shape === 'all' ? [...ALL_TOOLS] : [];
  if (shape === 'one') names = [d.pick(ALL_TOOLS)];
  if (shape === 'two') {
    const drop = d.pick(ALL_TOOLS);
    names = ALL_TOOLS.filter((n) => n !== drop);
  }
  // A forced first kind that needs a tool gets it (the eval asks for tool use explicitly).
  const need = firstKind ? TOOL_OF[firstKind] : undefined;
  if (need && !names.includes(need)) names = ALL_TOOLS.filter((n) => n === need || names.includes(n));
  if (names.length > 1 && d.chance(0.2)) names = d.shuffle(names);
  return names;
}

function oneConversation(d: Dice, index: number, opts: SyntheticOptions): Conversation {
  const thinking = opts.thinking ?? d.chance(0.55);
  const forced = opts.kinds && opts.kinds.length ? d.pick(opts.kinds) : undefined;
  const names = toolSet(d, forced && TOOL_OF[forced] ? forced : undefined);
  const now = new Date(Date.UTC(2025, 0, 1) + Math.floor(d.float() * 3 * 365 * 86400) * 1000);
  const b = new Builder(d, thinking, new Set(names), now);
  if (d.chance(0.4)) b.messages.push({ role: 'system', content: d.pick(SYSTEM_PROMPTS) });
  const nTurns = opts.turns ?? d.weighted({ 1: 62, 2: 28, 3: 10 } as Record<string, number>);
  let prev: TurnKind | undefined;
  for (let t = 0; t < Number(nTurns); t++) {
    const kind = t === 0 && forced ? forced : chooseKind(d, b.tools, t === 0 ? opts.kinds : undefined, prev, b.ctx);
    runTurn(b, kind);
    prev = kind;
  }
  return { id: `syn-${opts.seed}-${index}`, tools: names.length ? demoToolSchemas(names) : null, messages: b.messages, thinking, turns: b.turns };
}

/** Generates `count` conversations from `seed` (same seed and options, same output). */
export function generateConversations(opts: SyntheticOptions): Conversation[] {
  const d = new Dice(opts.seed);
  const out: Conversation[] = [];
  for (let i = 0; i < opts.count; i++) out.push(oneConversation(d, i, opts));
  return out;
}
