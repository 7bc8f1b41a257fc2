/**
 * Evaluates the shipped demo model with the nemotron-ts engine (no Python) on held-out synthetic prompts
 * (a generator seed never used for training):
 *   - tool-call validity: prompts that need a tool; the first reply must hold a parsable call of an offered
 *     tool with schema-valid arguments (also reported: the call equals the expected one);
 *   - arithmetic with the calculator: the full loop (call -> real tool result -> final answer); the final
 *     answer must contain the exact result;
 *   - thinking off: the generated text contains no `<think>` / `</think>`;
 *   - declines: requests no offered tool serves get no tool call.
 * Greedy decoding (temperature 0). Writes a JSON report.
 *
 * Usage: npx tsx eval/eval.ts [--model models/default] [--n 40] [--backend cpu-fast] [--out eval/results.json]
 */
import { writeFileSync } from 'node:fs';
import { generate } from '../src/engine/generate.js';
import { loadModel } from '../src/loaders/load-model.js';
import { parseOutput } from '../src/parsers/index.js';
import { selectBackend } from '../src/runtime/select.js';
import { loadChatTemplate, type ChatTemplate } from '../src/template/index.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { calculate, findTool, runTool, validateArguments } from '../src/tools/index.js';
import { generateConversations, type ChatMessage, type Conversation, type TurnKind } from '../src/training/synthetic.js';

/** Generator seed of the evaluation prompts (training used another; see scripts/train/prepare.ts). */
export const EVAL_SEED = 424242;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

interface Reply {
  text: string;
  reasoning: string | null;
  content: string | null;
  calls: { name: string; arguments: string }[];
  tokens: number;
}

class Runner {
  generated = 0;
  prompted = 0;
  constructor(
    private readonly lm: Parameters<typeof generate>[0],
    private readonly tok: Tokenizer,
    private readonly template: ChatTemplate,
    private readonly imEnd: number,
  ) {}

  async reply(messages: ChatMessage[], tools: Conversation['tools'], thinking: boolean, maxTokens = 200): Promise<Reply> {
    const prompt = this.template.render(messages, { tools, enableThinking: thinking, addGenerationPrompt: true });
    const ids = this.tok.encode(prompt, { addSpecialTokens: false });
    const out = await generate(this.lm, ids, { maxTokens, temperature: 0 });
    this.prompted += ids.length;
    this.generated += out.tokens.length;
    const body = out.tokens[out.tokens.length - 1] === this.imEnd ? out.tokens.slice(0, -1) : out.tokens;
    const text = this.tok.decode(body);
    const parsed = parseOutput(text, { thinking, tools });
    return {
      text,
      reasoning: parsed.reasoning,
      content: parsed.content,
      calls: parsed.toolCalls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })),
      tokens: out.tokens.length,
    };
  }
}

/** Prompt of a conversation's first user turn. */
function firstTurn(c: Conversation): ChatMessage[] {
  return c.messages.slice(0, c.turns[0].userIndex + 1);
}

function callProblems(call: { name: string; arguments: string }, offered: Set<string>): string[] {
  if (!offered.has(call.name)) return [`tool '${call.name}' was not offered`];
  const tool = findTool(call.name);
  if (!tool) return [`unknown tool '${call.name}'`];
  let args: unknown;
  try {
    args = JSON.parse(call.arguments);
  } catch {
    return ['arguments are not JSON'];
  }
  return validateArguments(tool, args);
}

function sameCall(a: { name: string; arguments: string }, b: { name: string; arguments: Record<string, unknown> }): boolean {
  if (a.name !== b.name) return false;
  try {
    const x = JSON.parse(a.arguments) as Record<string, unknown>;
    const keys = new Set([...Object.keys(x), ...Object.keys(b.arguments)]);
    for (const k of keys) if (String(x[k]) !== String(b.arguments[k])) return false;
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const modelDir = arg('model', 'models/default');
  const n = Number(arg('n', '40'));
  const outPath = arg('out', 'eval/results.json');
  const t0 = Date.now();
  const tok = await Tokenizer.fromDirectory(modelDir);
  const template = await loadChatTemplate(modelDir);
  const lm = loadModel(modelDir, selectBackend(arg('backend', 'cpu-fast')));
  const runner = new Runner(lm, tok, template, tok.specialTokens.imEnd!);
  const examples: Record<string, unknown[]> = { invalid_calls: [], wrong_answers: [], think_leaks: [], declines_with_calls: [] };
  const keep = (key: string, v: unknown): void => {
    if (examples[key].length < 8) examples[key].push(v);
  };

  // 1. tool-call validity (calc, unit, clock; thinking on and off)
  const toolKinds: TurnKind[] = ['calc', 'unit', 'clock'];
  let valid = 0;
  let exact = 0;
  let total = 0;
  for (const [k, kind] of toolKinds.entries()) {
    const convs = generateConversations({ seed: EVAL_SEED + k, count: n, kinds: [kind], turns: 1 });
    for (const c of convs) {
      const r = await runner.reply(firstTurn(c), c.tools, c.thinking);
      const offered = new Set((c.tools ?? []).map((t) => t.function.name));
      const problems = r.calls.length === 0 ? ['no tool call'] : r.calls.flatMap((call) => callProblems(call, offered));
      total++;
      if (problems.length === 0) valid++;
      else keep('invalid_calls', { kind, prompt: firstTurn(c).at(-1)!.content, output: r.text, problems });
      const want = c.turns[0].calls;
      if (r.calls.length === want.length && r.calls.every((call, i) => sameCall(call, want[i]))) exact++;
    }
  }

  // 2. arithmetic with the calculator: the whole loop
  const calcConvs = generateConversations({ seed: EVAL_SEED + 10, count: n, kinds: ['calc'], turns: 1 });
  let correct = 0;
  for (const c of calcConvs) {
    const expected = calculate(c.turns[0].calls[0].arguments.expression as string);
    const msgs = firstTurn(c);
    let answer: string | null = null;
    let trace = '';
    for (let round = 0; round < 3; round++) {
      const r = await runner.reply(msgs, c.tools, c.thinking);
      trace += r.text + '\n--\n';
      if (r.calls.length === 0) {
        answer = r.content;
        break;
      }
      const id = (i: number) => `call_${round}_${i}`;
      const assistant: ChatMessage = { role: 'assistant', content: r.content, tool_calls: r.calls.map((call, i) => ({ id: id(i), type: 'function', function: call })) };
      if (c.thinking && r.reasoning) assistant.reasoning_content = r.reasoning;
      msgs.push(assistant);
      r.calls.forEach((call, i) => msgs.push({ role: 'tool', tool_call_id: id(i), content: runTool(call.name, call.arguments) }));
    }
    if (answer !== null && answer.includes(expected)) correct++;
    else keep('wrong_answers', { prompt: firstTurn(c).at(-1)!.content, expected, trace });
  }

  // 3. thinking off: no reasoning tags in the output
  const offConvs = generateConversations({ seed: EVAL_SEED + 20, count: n, thinking: false, turns: 1 });
  let clean = 0;
  for (const c of offConvs) {
    const r = await runner.reply(firstTurn(c), c.tools, false);
    if (!r.text.includes('<think>') && !r.text.includes('</think>')) clean++;
    else keep('think_leaks', { prompt: firstTurn(c).at(-1)!.content, output: r.text });
  }

  // 4. declines: nothing offered can serve the request
  const declineConvs = generateConversations({ seed: EVAL_SEED + 30, count: Math.ceil(n / 2), kinds: ['unservable', 'clock_no_tool', 'unit_no_tool'], turns: 1 });
  let declined = 0;
  for (const c of declineConvs) {
    const r = await runner.reply(firstTurn(c), c.tools, c.thinking);
    if (r.calls.length === 0) declined++;
    else keep('declines_with_calls', { prompt: firstTurn(c).at(-1)!.content, output: r.text });
  }

  const seconds = (Date.now() - t0) / 1000;
  const rate = (a: number, b: number) => ({ passed: a, total: b, rate: b ? Number((a / b).toFixed(4)) : null });
  const report = {
    model: modelDir,
    eval_seed: EVAL_SEED,
    decoding: 'greedy',
    tool_call_validity: rate(valid, total),
    tool_call_exact: rate(exact, total),
    calculator_answer_accuracy: rate(correct, calcConvs.length),
    thinking_off_no_think_tags: rate(clean, offConvs.length),
    declines_without_tool_call: rate(declined, declineConvs.length),
    tokens: { prompt: runner.prompted, generated: runner.generated },
    seconds: Number(seconds.toFixed(1)),
    examples,
  };
  writeFileSync(outPath, JSON.stringify(report, null, 2) + '\n');
  const pct = (r: { rate: number | null }) => (r.rate === null ? 'n/a' : `${(r.rate * 100).toFixed(1)} %`);
  console.log(`tool-call validity          ${pct(report.tool_call_validity)} (${valid}/${total}); exact call ${pct(report.tool_call_exact)}`);
  console.log(`calculator answer accuracy  ${pct(report.calculator_answer_accuracy)} (${correct}/${calcConvs.length})`);
  console.log(`thinking off, no <think>    ${pct(report.thinking_off_no_think_tags)} (${clean}/${offConvs.length})`);
  console.log(`declines without a call     ${pct(report.declines_without_tool_call)} (${declined}/${declineConvs.length})`);
  console.log(`${runner.prompted} prompt + ${runner.generated} generated tokens in ${seconds.toFixed(0)} s; report: ${outPath}`);
}

await main();
