/** The real `openai` npm SDK against the running server (HTTP over a socket). */
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EngineError, type RequestHandle, type TokenEvent } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/server/logger.js';
import type { ServedModel } from '../../src/server/model.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadTiny, MODEL_NAME, scriptOutput, testOptions } from '../server/helpers.js';

let srv: RunningServer;
let model: ServedModel;
let client: OpenAI;
let restore: (() => void) | null = null;
beforeAll(async () => {
  model = await loadTiny();
  srv = await startServer(testOptions({ apiKey: 'k' }), silentLogger, () => model);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'k', maxRetries: 0 });
});
afterAll(() => srv.close());
afterEach(() => {
  restore?.();
  restore = null;
});

const thinkingOff = { chat_template_kwargs: { enable_thinking: false } } as Record<string, unknown>;
const tools: OpenAI.Chat.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false } } },
];

describe('openai SDK', () => {
  it('models.list', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual([MODEL_NAME]);
  });

  it('chat.completions.create, non-streaming, reasoning passthrough', async () => {
    restore = scriptOutput(model, 'Let me think.</think>Hello!');
    const r = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 30, temperature: 0 });
    expect(r.choices[0].message.content).toBe('Hello!');
    expect((r.choices[0].message as unknown as { reasoning_content: string }).reasoning_content).toBe('Let me think.');
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('chat.completions.create stream with include_usage', async () => {
    restore = scriptOutput(model, 'Reasoning here.</think>The answer is 4.');
    const stream = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: '2+2?' }], max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let content = '';
    let reasoning = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const c = chunk.choices[0];
      if (!c) continue;
      content += c.delta.content ?? '';
      reasoning += (c.delta as { reasoning?: string }).reasoning ?? '';
      finish = c.finish_reason ?? finish;
    }
    expect(content).toBe('The answer is 4.');
    expect(reasoning).toBe('Reasoning here.');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('the strict stream() helper accepts the tool-call stream (tool_choice required)', async () => {
    const runner = client.chat.completions.stream({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather in Oslo?' }], max_tokens: 60, temperature: 0, tools, tool_choice: 'required', ...thinkingOff });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(final.choices[0].finish_reason).toBe('tool_calls');
    expect(call.function.name).toBe('get_weather');
    expect(Object.keys(JSON.parse(call.function.arguments))).toEqual(['city']);
  });

  it('named tool_choice and auto tool calls parsed from the model XML', async () => {
    const named = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Oslo' }], max_tokens: 40, temperature: 0, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, ...thinkingOff });
    expect((named.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function.name).toBe('get_weather');
    restore = scriptOutput(model, 'ok</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>');
    const auto = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Oslo' }], max_tokens: 80, tools });
    const call = auto.choices[0].message.tool_calls![0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    expect(auto.choices[0].finish_reason).toBe('tool_calls');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Oslo' });
  });

  it('parse() with zodResponseFormat gets schema-valid JSON (reasoning-aware constrained decoding)', async () => {
    const Weather = z.object({ city: z.string().max(10), celsius: z.number().int().min(-60).max(60), sunny: z.boolean() });
    const r = await client.chat.completions.parse({ model: MODEL_NAME, messages: [{ role: 'user', content: 'Weather?' }], max_tokens: 80, temperature: 0, response_format: zodResponseFormat(Weather, 'weather') });
    const parsed = r.choices[0].message.parsed!;
    expect(Weather.parse(parsed)).toEqual(parsed);
  });

  it('completions.create (legacy) streaming', async () => {
    const s = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    const whole = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
    expect(text).toBe(whole.choices[0].text);
  });

  it('typed errors: 400, 404, 401', async () => {
    await expect(client.chat.completions.create({ model: MODEL_NAME, messages: [], max_tokens: 1 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const err = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 10 ** 9 }).catch((e: unknown) => e);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/maximum context length/);
  });

  it('an engine failure mid-stream arrives as an SSE error event and the SDK throws APIError', async () => {
    const engine = model.engine;
    const original = engine.submit.bind(engine);
    engine.submit = (req) => {
      const h = original(req);
      const failing: RequestHandle = {
        id: h.id,
        promptTokens: h.promptTokens,
        cancel: () => h.cancel(),
        async *[Symbol.asyncIterator](): AsyncGenerator<TokenEvent> {
          let n = 0;
          for await (const e of h) {
            if (++n > 2) throw new EngineError('internal', 'forward step failed: device lost');
            yield e;
          }
        },
      };
      return failing;
    };
    restore = () => {
      engine.submit = original;
    };
    const stream = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 20, temperature: 0, stream: true });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of stream) seen.push(JSON.stringify(c));
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(seen.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(model.engine.stats.liveStates).toBe(0);
  });
});
