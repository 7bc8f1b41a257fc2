/**
 * `nemotron chat`: an interactive REPL over the chat-completions API, either in-process (the server app over
 * a local model, no socket) or against a running server (--url). Streams the answer, shows reasoning dimmed,
 * keeps the conversation, toggles thinking with /think on|off, and runs the built-in demo tools (calculator,
 * unit converter, clock) when the model calls them, feeding their results back until it answers.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createApp } from '../../server/app.js';
import { resolveOptions } from '../../server/config.js';
import { silentLogger } from '../../server/logger.js';
import { defaultModelDir, loadServedModel, ModelHost, requireModelDir } from '../../server/model.js';
import { loadingProgress } from '../../server/progress.js';
import { demoToolSchemas, runTool } from '../../tools/index.js';
import { numberFlag, UsageError } from '../args.js';

export const usage = `nemotron chat [--model DIR | --url URL] [options]
  --model DIR          model directory (default: the built-in model)
  --url URL            talk to a running server instead (e.g. http://127.0.0.1:8000)
  --api-key KEY        bearer key for --url
  --max-tokens N       per answer (default 512)
  --temperature T      (default: the model's generation config, else 1)
  --system TEXT        system prompt
  --no-think           start with thinking off (toggle with /think on|off)
  --no-tools           do not offer the demo tools
  --chat-template FILE override the model's chat template
  --backend NAME       cpu-simd (default), cpu-fast, cpu-ref or cuda
in the chat: /think on|off  /tools on|off  /reset  /help  /exit`;

const DIM = '\x1b[2m';
const UNDIM = '\x1b[22m';

type Message = Record<string, unknown>;

export interface ChatSessionOptions {
  /** Sends a request (global fetch, or an in-process app). */
  fetch: (req: Request) => Promise<Response>;
  baseUrl: string;
  model: string;
  apiKey?: string;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  color: boolean;
  thinking: boolean;
  tools: boolean;
  maxTokens: number;
  temperature?: number;
  system?: string;
  /** Most model calls per user turn (tool rounds). */
  maxRounds?: number;
}

interface Turn {
  content: string;
  reasoning: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finish: string | null;
  error: string | null;
}

/** Reads SSE `data:` payloads from a response body. */
async function* sseEvents(res: Response): AsyncGenerator<unknown> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, at);
      buf = buf.slice(at + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') return;
        yield JSON.parse(data);
      }
    }
  }
}

/** Runs the REPL until the input ends or /exit. */
export async function chatSession(o: ChatSessionOptions): Promise<void> {
  const out = (s: string) => o.output.write(s);
  const dim = (s: string) => (o.color ? `${DIM}${s}${UNDIM}` : s);
  let thinking = o.thinking;
  let tools = o.tools;
  const history: Message[] = [];
  const reset = () => {
    history.length = 0;
    if (o.system) history.push({ role: 'system', content: o.system });
  };
  reset();

  const ask = async (): Promise<Turn> => {
    const body: Record<string, unknown> = {
      model: o.model,
      messages: history,
      stream: true,
      max_tokens: o.maxTokens,
      chat_template_kwargs: { enable_thinking: thinking },
    };
    if (o.temperature !== undefined) body.temperature = o.temperature;
    if (tools) body.tools = demoToolSchemas();
    const res = await o.fetch(
      new Request(`${o.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
        body: JSON.stringify(body),
      }),
    );
    const turn: Turn = { content: '', reasoning: '', toolCalls: [], finish: null, error: null };
    if (res.status !== 200) {
      const err = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      turn.error = err?.error?.message ?? `HTTP ${res.status}`;
      return turn;
    }
    let mode: 'none' | 'reasoning' | 'content' = 'none';
    for await (const ev of sseEvents(res)) {
      const e = ev as { error?: { message: string }; choices?: Array<{ delta: Record<string, any>; finish_reason: string | null }> };
      if (e.error) {
        turn.error = e.error.message;
        break;
      }
      const ch = e.choices?.[0];
      if (!ch) continue;
      const d = ch.delta;
      const r = (d.reasoning_content ?? d.reasoning) as string | undefined;
      if (r) {
        if (mode === 'none') out(dim('thinking: '));
        mode = 'reasoning';
        turn.reasoning += r;
        out(dim(r));
      }
      if (typeof d.content === 'string' && d.content !== '') {
        if (mode === 'reasoning') out('\n');
        mode = 'content';
        turn.content += d.content;
        out(d.content);
      }
      for (const tc of (d.tool_calls ?? []) as Array<{ index: number; id?: string; function: { name?: string; arguments?: string } }>) {
        const cur = (turn.toolCalls[tc.index] ??= { id: tc.id ?? `call_${tc.index}`, name: '', arguments: '' });
        if (tc.function.name) cur.name = tc.function.name;
        cur.arguments += tc.function.arguments ?? '';
      }
      if (ch.finish_reason) turn.finish = ch.finish_reason;
    }
    if (mode !== 'none') out('\n');
    return turn;
  };

  const help = () => out(dim('commands: /think on|off, /tools on|off, /reset, /help, /exit\n'));
  const handle = async (line: string): Promise<boolean> => {
    const text = line.trim();
    if (text === '') return true;
    if (text.startsWith('/')) {
      const [cmd, arg] = text.split(/\s+/);
      if (cmd === '/exit' || cmd === '/quit') return false;
      if (cmd === '/think' && (arg === 'on' || arg === 'off')) {
        thinking = arg === 'on';
        out(dim(`thinking ${arg}\n`));
      } else if (cmd === '/tools' && (arg === 'on' || arg === 'off')) {
        tools = arg === 'on';
        out(dim(`tools ${arg}\n`));
      } else if (cmd === '/reset') {
        reset();
        out(dim('conversation cleared\n'));
      } else help();
      return true;
    }
    history.push({ role: 'user', content: text });
    for (let round = 0; round < (o.maxRounds ?? 5); round++) {
      const turn = await ask();
      if (turn.error) {
        out(`error: ${turn.error}\n`);
        history.pop();
        return true;
      }
      const msg: Message = { role: 'assistant', content: turn.content || null };
      if (turn.reasoning) msg.reasoning_content = turn.reasoning;
      if (turn.toolCalls.length) msg.tool_calls = turn.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      history.push(msg);
      if (!turn.toolCalls.length) {
        if (turn.finish === 'length') out(dim('[stopped at --max-tokens]\n'));
        return true;
      }
      for (const c of turn.toolCalls) {
        const result = runTool(c.name, c.arguments);
        out(dim(`[tool] ${c.name}(${c.arguments}) -> ${result}\n`));
        history.push({ role: 'tool', tool_call_id: c.id, content: result });
      }
    }
    out(dim('[too many tool rounds; stopping]\n'));
    return true;
  };

  const rl = createInterface({ input: o.input, terminal: false });
  const interactive = (o.input as { isTTY?: boolean }).isTTY === true;
  const prompt = () => interactive && out('> ');
  if (interactive) out(dim(`chatting with ${o.model} (thinking ${thinking ? 'on' : 'off'}; /help for commands)\n`));
  prompt();
  for await (const line of rl) {
    if (!(await handle(line))) break;
    prompt();
  }
  rl.close();
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      system: { type: 'string' },
      'no-think': { type: 'boolean' },
      'no-tools': { type: 'boolean' },
      'chat-template': { type: 'string' },
      backend: { type: 'string' },
      'served-model-name': { type: 'string' },
    },
  });
  if (values.url && values.model) throw new UsageError(`give --model or --url, not both\n${usage}`);
  const common = {
    input: process.stdin,
    output: process.stdout,
    color: process.stdout.isTTY === true,
    thinking: !values['no-think'],
    tools: !values['no-tools'],
    maxTokens: numberFlag(values, 'max-tokens', { int: true, min: 1 }) ?? 512,
    temperature: numberFlag(values, 'temperature', { min: 0, max: 2 }),
    system: values.system,
  };
  if (values.url) {
    const base = values.url.replace(/\/+$/, '').replace(/\/v1$/, '');
    const models = (await (await fetch(`${base}/v1/models`, { headers: values['api-key'] ? { authorization: `Bearer ${values['api-key']}` } : {} })).json()) as { data?: Array<{ id: string }> };
    const name = values['served-model-name'] ?? models.data?.[0]?.id;
    if (!name) throw new Error(`${base}/v1/models lists no model`);
    await chatSession({ ...common, fetch: (r) => fetch(r), baseUrl: base, model: name, apiKey: values['api-key'] });
    return;
  }
  const opts = resolveOptions({ model: values.model, 'served-model-name': values['served-model-name'], 'chat-template': values['chat-template'], backend: values.backend }, process.env, defaultModelDir);
  requireModelDir(opts.modelDir, values.model === undefined && process.env.NIM_MODEL_PATH === undefined);
  const progress = loadingProgress(`loading ${opts.modelDir}`);
  let model;
  try {
    model = await loadServedModel(opts.modelDir, { backend: opts.backend, chatTemplate: opts.chatTemplate, maxModelLen: opts.maxModelLen, onProgress: progress.update });
  } finally {
    progress.stop();
  }
  const app = createApp({ host: ModelHost.ready(model), opts, log: silentLogger });
  try {
    await chatSession({ ...common, fetch: async (r) => app.fetch(r), baseUrl: 'http://local', model: opts.servedModelNames[0] });
  } finally {
    model.engine.shutdown();
  }
}
