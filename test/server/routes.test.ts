import { existsSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/server/app.js';
import { silentLogger } from '../../src/server/logger.js';
import { ModelHost, type ServedModel } from '../../src/server/model.js';
import { appFor, joinDeltas, loadTiny, MODEL_NAME, parseSse, post, REAL_TEMPLATE, scriptOutput, testOptions } from './helpers.js';

let model: ServedModel;
let app: ReturnType<typeof appFor>;
let restore: (() => void) | null = null;
beforeAll(async () => {
  model = await loadTiny();
  app = appFor(model);
});
afterEach(() => {
  restore?.();
  restore = null;
  expect(model.engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0 });
});

const user = (content: string) => [{ role: 'user', content }];
const chat = async (body: Record<string, unknown>) => {
  const r = await app.request(post('/v1/chat/completions', { model: MODEL_NAME, messages: user('Hi'), temperature: 0, ...body }));
  return { status: r.status, body: (await r.json()) as any };
};
const chatStream = async (body: Record<string, unknown>) => {
  const r = await app.request(post('/v1/chat/completions', { model: MODEL_NAME, messages: user('Hi'), temperature: 0, stream: true, ...body }));
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return parseSse(await r.text()) as any[];
};

describe('management routes', () => {
  it('health: live always, ready 503 while loading then 200', async () => {
    const loading = new ModelHost();
    const a = createApp({ host: loading, opts: testOptions(), log: silentLogger });
    expect((await a.request('/v1/health/live')).status).toBe(200);
    const r = await a.request('/v1/health/ready');
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ object: 'health.response', status: 'not_ready' });
    const c = await a.request(post('/v1/chat/completions', { messages: user('x') }));
    expect(c.status).toBe(503);
    expect(((await c.json()) as any).error).toMatchObject({ type: 'ServiceUnavailableError', code: 503 });
    loading.setReady(model);
    expect((await a.request('/v1/health/ready')).status).toBe(200);
  });

  it('models, version, metadata, manifest, license', async () => {
    const m = (await (await app.request('/v1/models')).json()) as any;
    expect(m.object).toBe('list');
    expect(m.data[0]).toMatchObject({ id: MODEL_NAME, object: 'model', owned_by: 'nvidia', max_model_len: model.maxModelLen, parent: null });
    expect(m.data[0].permission[0].object).toBe('model_permission');
    expect((await app.request(`/v1/models/${MODEL_NAME}`)).status).toBe(200);
    const nf = await app.request('/v1/models/nope');
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as any).error.type).toBe('NotFoundError');
    expect(await (await app.request('/v1/version')).json()).toMatchObject({ release: expect.any(String), api: expect.any(String) });
    const md = (await (await app.request('/v1/metadata')).json()) as any;
    expect(md.modelInfo[0].shortName).toBe(MODEL_NAME);
    expect((await app.request('/v1/manifest')).status).toBe(200);
    expect((await app.request('/v1/license')).status).toBe(200);
    const nope = await app.request('/v1/nothing');
    expect(nope.status).toBe(404);
    expect(((await nope.json()) as any).error.code).toBe(404);
  });

  it('tokenize / detokenize (text, chat messages, special tokens)', async () => {
    const t = (await (await app.request(post('/tokenize', { prompt: 'Hello world' }))).json()) as any;
    expect(t.count).toBe(t.tokens.length);
    expect(t.max_model_len).toBe(model.maxModelLen);
    const d = (await (await app.request(post('/detokenize', { tokens: t.tokens }))).json()) as any;
    expect(d.prompt).toBe('Hello world');
    const sp = (await (await app.request(post('/tokenize', { prompt: '<|im_start|>', return_token_strs: true }))).json()) as any;
    expect(sp.tokens).toEqual([10]);
    const m = (await (await app.request(post('/tokenize', { messages: user('Hi') }))).json()) as any;
    expect(model.tokenizer.decode(m.tokens)).toBe('<|im_start|>system\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n');
  });

  it('metrics: Prometheus text with vllm: names, counting requests and tokens', async () => {
    await chat({ max_tokens: 3 });
    const r = await app.request('/metrics');
    expect(r.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await r.text();
    for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:prompt_tokens_total', 'vllm:generation_tokens_total', 'vllm:time_to_first_token_seconds_bucket', 'vllm:inter_token_latency_seconds_count', 'vllm:e2e_request_latency_seconds_sum', 'vllm:request_success_total', 'nemotron:state_bytes']) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/vllm:generation_tokens_total\{model_name="tiny-nemotron"\} [1-9]/);
    expect((await app.request('/v1/metrics')).status).toBe(200);
  });
});

describe('POST /v1/chat/completions', () => {
  it('non-streaming shape (vLLM/OpenAI), both reasoning fields, usage', async () => {
    const { status, body } = await chat({ max_tokens: 6 });
    expect(status).toBe(200);
    expect(body).toMatchObject({ object: 'chat.completion', model: MODEL_NAME, usage: { prompt_tokens: expect.any(Number), completion_tokens: 6, total_tokens: expect.any(Number) } });
    expect(body.id).toMatch(/^chatcmpl-/);
    const c = body.choices[0];
    expect(c).toMatchObject({ index: 0, finish_reason: 'length', logprobs: null });
    expect(c.message).toMatchObject({ role: 'assistant', tool_calls: [], refusal: null });
    // thinking on and truncated: all reasoning, content null (vLLM behaviour)
    expect(c.message.content).toBeNull();
    expect(c.message.reasoning).toBe(c.message.reasoning_content);
  });

  it('streaming framing: role chunk, deltas, finish chunk, usage chunk with choices [], [DONE]', async () => {
    const ev = await chatStream({ max_tokens: 6, stream_options: { include_usage: true } });
    expect(ev.at(-1)).toBe('[DONE]');
    expect(ev[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const ids = new Set(ev.slice(0, -1).map((e) => e.id));
    expect(ids.size).toBe(1);
    const usage = ev.at(-2);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(6);
    const fin = ev.at(-3);
    expect(fin.choices[0].finish_reason).toBe('length');
    // the stream says the same as the non-streaming answer
    const whole = (await chat({ max_tokens: 6 })).body.choices[0].message;
    const j = joinDeltas(ev);
    expect(j.reasoning).toBe(whole.reasoning);
    expect(j.reasoningContent).toBe(whole.reasoning_content);
  });

  it('enable_thinking false: everything is content', async () => {
    const { body } = await chat({ max_tokens: 8, chat_template_kwargs: { enable_thinking: false } });
    expect(body.choices[0].message.reasoning).toBeNull();
    expect(typeof body.choices[0].message.content).toBe('string');
  });

  it('force_nonempty_content copies truncated reasoning into content', async () => {
    const { body } = await chat({ max_tokens: 8, chat_template_kwargs: { force_nonempty_content: true } });
    const m = body.choices[0].message;
    expect(m.reasoning).not.toBeNull();
    expect(m.content).toBe(m.reasoning);
  });

  it('reasoning_budget closes </think> and the answer follows', async () => {
    const { body } = await chat({ max_tokens: 30, reasoning_budget: 4, logprobs: true });
    const m = body.choices[0].message;
    expect(m.content).not.toBeNull();
    // </think> comes after the budget (4), within the grace window (8 tokens) that waits for a newline
    const at = body.choices[0].logprobs.content.findIndex((t: any) => t.token === '</think>');
    expect(at).toBeGreaterThanOrEqual(4);
    expect(at).toBeLessThanOrEqual(4 + 8);
  });

  it('n, seed: seeded sampling is reproducible; greedy choices agree', async () => {
    const a = await chat({ max_tokens: 6, n: 3, temperature: 1, seed: 7, chat_template_kwargs: { enable_thinking: false } });
    const b = await chat({ max_tokens: 6, n: 3, temperature: 1, seed: 7, chat_template_kwargs: { enable_thinking: false } });
    expect(a.body.choices.map((c: any) => c.index)).toEqual([0, 1, 2]);
    expect(a.body.choices.map((c: any) => c.message.content)).toEqual(b.body.choices.map((c: any) => c.message.content));
    expect(a.body.usage.completion_tokens).toBe(18);
    const g = await chat({ max_tokens: 6, n: 2, chat_template_kwargs: { enable_thinking: false } });
    expect(g.body.choices[0].message.content).toBe(g.body.choices[1].message.content);
    const ev = await chatStream({ max_tokens: 4, n: 2 });
    expect(new Set(ev.filter((e) => e !== '[DONE]' && e.choices[0]?.finish_reason).map((e) => e.choices[0].index))).toEqual(new Set([0, 1]));
  });

  it('stop strings cut the output (streaming and not), with stop_reason', async () => {
    restore = scriptOutput(model, 'alpha beta STOP gamma');
    const body = { max_tokens: 40, stop: ['STOP', 'never'], chat_template_kwargs: { enable_thinking: false } };
    const r = await chat(body);
    expect(r.body.choices[0]).toMatchObject({ finish_reason: 'stop', stop_reason: 'STOP', message: { content: 'alpha beta' } });
    const j = joinDeltas(await chatStream(body));
    expect(j.content).toBe('alpha beta');
    expect(j.finish).toBe('stop');
    const inc = await chat({ ...body, include_stop_str_in_output: true });
    expect(inc.body.choices[0].message.content).toBe('alpha beta STOP');
  });

  it('max_completion_tokens, top_k, min_p, repetition_penalty, logit_bias are applied', async () => {
    const r = await chat({ max_completion_tokens: 3, top_k: 5, min_p: 0.1, repetition_penalty: 1.3, temperature: 0.8, seed: 1 });
    expect(r.body.usage.completion_tokens).toBe(3);
    // a +100 bias on one token makes greedy pick it every time
    const b = await chat({ max_tokens: 4, logit_bias: { '65': 100 }, chat_template_kwargs: { enable_thinking: false } });
    expect(b.body.choices[0].message.content).toBe(model.tokenizer.decode([65]).repeat(4));
    // min_tokens keeps the stop token away: a +100 bias on <|im_end|> ends at once without it
    const early = await chat({ max_tokens: 6, logit_bias: { '11': 100 }, chat_template_kwargs: { enable_thinking: false } });
    expect(early.body.usage.completion_tokens).toBe(1);
    const late = await chat({ max_tokens: 6, min_tokens: 3, logit_bias: { '11': 100 }, chat_template_kwargs: { enable_thinking: false } });
    expect(late.body.usage.completion_tokens).toBe(4);
    expect(late.body.choices[0].finish_reason).toBe('stop');
  });

  it('logprobs / top_logprobs, streamed and not', async () => {
    const r = await chat({ max_tokens: 4, logprobs: true, top_logprobs: 3 });
    const lp = r.body.choices[0].logprobs.content;
    expect(lp).toHaveLength(4);
    for (const t of lp) {
      expect(t).toMatchObject({ token: expect.any(String), logprob: expect.any(Number), bytes: expect.any(Array) });
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.logprob).toBeCloseTo(t.top_logprobs[0].logprob, 5); // greedy = most likely
    }
    const ev = await chatStream({ max_tokens: 4, logprobs: true, top_logprobs: 2 });
    const streamed = ev.filter((e) => e !== '[DONE]').flatMap((e) => e.choices[0]?.logprobs?.content ?? []);
    expect(streamed.map((t: any) => t.token)).toEqual(lp.map((t: any) => t.token));
  });

  it('response_format json_object and json_schema give parseable JSON that fits the schema', async () => {
    const o = await chat({ max_tokens: 40, response_format: { type: 'json_object' }, chat_template_kwargs: { enable_thinking: false } });
    expect(o.body.choices[0].finish_reason).toBe('stop');
    const obj = JSON.parse(o.body.choices[0].message.content);
    expect(typeof obj).toBe('object');
    const schema = { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, temp: { type: 'integer', minimum: -50, maximum: 60 }, unit: { enum: ['c', 'f'] }, ok: { type: 'boolean' } }, required: ['city', 'temp', 'unit', 'ok'], additionalProperties: false };
    const s = await chat({ max_tokens: 60, response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema } } });
    const m = s.body.choices[0].message;
    expect(m.reasoning).not.toBeNull(); // reasoning-aware: thinking first, then the JSON
    const v = JSON.parse(m.content);
    expect(Object.keys(v)).toEqual(['city', 'temp', 'unit', 'ok']);
    expect(Number.isInteger(v.temp) && v.temp >= -50 && v.temp <= 60).toBe(true);
    expect(['c', 'f']).toContain(v.unit);
    const j = joinDeltas(await chatStream({ max_tokens: 60, response_format: { type: 'json_schema', json_schema: { name: 'weather', schema } } }));
    expect(JSON.parse(j.content)).toEqual(v);
  });

  const tools = [
    { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 10 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'days'] } } },
    { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } } },
  ];

  it('tool_choice required: constrained calls, finish_reason tool_calls, stream deltas in the client-safe shape', async () => {
    const r = await chat({ max_tokens: 60, tools, tool_choice: 'required', chat_template_kwargs: { enable_thinking: false } });
    const c = r.body.choices[0];
    expect(c.finish_reason).toBe('tool_calls');
    expect(c.message.tool_calls.length).toBeGreaterThan(0);
    for (const call of c.message.tool_calls) {
      expect(call).toMatchObject({ id: expect.stringMatching(/^chatcmpl-tool-/), type: 'function' });
      expect(['get_weather', 'add']).toContain(call.function.name);
      expect(typeof JSON.parse(call.function.arguments)).toBe('object');
    }
    const ev = await chatStream({ max_tokens: 60, tools, tool_choice: 'required', chat_template_kwargs: { enable_thinking: false } });
    const first = ev.find((e) => e !== '[DONE]' && e.choices[0]?.delta?.tool_calls)!.choices[0].delta.tool_calls[0];
    expect(first).toMatchObject({ index: 0, id: expect.any(String), type: 'function', function: { name: expect.any(String), arguments: '' } });
    const j = joinDeltas(ev);
    expect(j.finish).toBe('tool_calls');
    expect(j.toolCalls.map((t) => [t.name, t.arguments])).toEqual(c.message.tool_calls.map((t: any) => [t.function.name, t.function.arguments]));
  });

  it('named tool_choice: the arguments follow that tool schema, finish_reason stop', async () => {
    const r = await chat({ max_tokens: 40, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    const c = r.body.choices[0];
    expect(c.finish_reason).toBe('stop');
    expect(c.message.tool_calls).toHaveLength(1);
    expect(c.message.tool_calls[0].function.name).toBe('get_weather');
    const args = JSON.parse(c.message.tool_calls[0].function.arguments);
    expect(Object.keys(args)).toEqual(['city', 'days']);
  });

  it('tool_choice auto parses the model XML tool calls (scripted output), also without </think>', async () => {
    restore = scriptOutput(model, 'Need the weather.</think>\nLet me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>');
    const r = await chat({ max_tokens: 100, tools });
    const m = r.body.choices[0].message;
    expect(r.body.choices[0].finish_reason).toBe('tool_calls');
    expect(m.reasoning).toBe('Need the weather.');
    expect(m.content).toBe('Let me check.');
    expect(m.tool_calls[0].function).toEqual({ name: 'get_weather', arguments: '{"city": "Paris", "days": 3}' });
    const j = joinDeltas(await chatStream({ max_tokens: 100, tools }));
    expect(j).toMatchObject({ reasoning: 'Need the weather.', content: 'Let me check.', finish: 'tool_calls' });
    expect(JSON.parse(j.toolCalls[0].arguments)).toEqual({ city: 'Paris', days: 3 });
    restore();
    restore = scriptOutput(model, 'thinking<tool_call>\n<function=add>\n<parameter=a>\n1\n</parameter>\n<parameter=b>\n2\n</parameter>\n</function>\n</tool_call>');
    const n = await chat({ max_tokens: 100, tools });
    expect(n.body.choices[0].message.tool_calls[0].function).toEqual({ name: 'add', arguments: '{"a": 1, "b": 2}' });
    restore();
    const two = '<tool_call>\n<function=add>\n<parameter=a>\n1\n</parameter>\n<parameter=b>\n2\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=add>\n<parameter=a>\n3\n</parameter>\n<parameter=b>\n4\n</parameter>\n</function>\n</tool_call>';
    restore = scriptOutput(model, two);
    const both = await chat({ max_tokens: 200, tools, chat_template_kwargs: { enable_thinking: false } });
    expect(both.body.choices[0].message.tool_calls.map((c: any) => c.function.arguments)).toEqual(['{"a": 1, "b": 2}', '{"a": 3, "b": 4}']);
    const one = await chat({ max_tokens: 200, tools, parallel_tool_calls: false, chat_template_kwargs: { enable_thinking: false } });
    expect(one.body.choices[0].message.tool_calls).toHaveLength(1);
    const oneStream = joinDeltas(await chatStream({ max_tokens: 200, tools, parallel_tool_calls: false, chat_template_kwargs: { enable_thinking: false } }));
    expect(oneStream.toolCalls).toHaveLength(1);
    const none = await chat({ max_tokens: 300, tools, tool_choice: 'none' });
    expect(none.body.choices[0].message.tool_calls).toEqual([]);
    expect(none.body.choices[0].finish_reason).toBe('stop');
  });

  it('tool results and assistant history (reasoning / reasoning_content, string arguments) render', async () => {
    const messages = [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
      { role: 'assistant', content: null, reasoning: 'use tool', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo","days":1}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '{"t": 3}' },
    ];
    const r = await chat({ messages, tools, max_tokens: 2 });
    expect(r.status).toBe(200);
  });

  it.skipIf(!existsSync(REAL_TEMPLATE))('the real Nemotron 3 Nano template renders through the server (skipped without ../shared/fixtures)', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } }];
    const m2 = await loadTiny({ chatTemplate: REAL_TEMPLATE });
    const a = appFor(m2);
    const t = (await (await a.request(post('/tokenize', { messages: user('Hi') }))).json()) as any;
    expect(m2.tokenizer.decode(t.tokens)).toBe('<|im_start|>system\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n');
    const off = (await (await a.request(post('/tokenize', { messages: user('Hi'), chat_template_kwargs: { enable_thinking: false } }))).json()) as any;
    expect(m2.tokenizer.decode(off.tokens).endsWith('<|im_start|>assistant\n<think></think>')).toBe(true);
    // a tool round trip through the real template: tools rendered, XML call parsed, history re-rendered
    const undo = scriptOutput(m2, 'Checking.</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>');
    try {
      const r = (await (await a.request(post('/v1/chat/completions', { messages: user('Weather in Paris?'), tools, max_tokens: 200, stream: true }))).text());
      const j = joinDeltas(parseSse(r));
      expect(j.finish).toBe('tool_calls');
      expect(j.toolCalls).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: '{"city": "Paris", "days": 2}' }]);
      const history = [...user('Weather in Paris?'), { role: 'assistant', content: '', reasoning_content: 'Checking.', tool_calls: [{ id: j.toolCalls[0].id, type: 'function', function: { name: 'get_weather', arguments: j.toolCalls[0].arguments } }] }, { role: 'tool', tool_call_id: j.toolCalls[0].id, content: '{"t": 20}' }];
      const t = (await (await a.request(post('/tokenize', { messages: history, tools }))).json()) as any;
      const text = m2.tokenizer.decode(t.tokens);
      expect(text).toContain('<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>');
      expect(text).toContain('<tool_response>\n{"t": 20}\n</tool_response>');
      expect(text).toContain('# Tools');
    } finally {
      undo();
    }
  });
});

describe('POST /v1/completions', () => {
  const complete = async (body: Record<string, unknown>) => {
    const r = await app.request(post('/v1/completions', { model: MODEL_NAME, temperature: 0, ...body }));
    return { status: r.status, body: (await r.json()) as any };
  };

  it('string, list and token-id prompts; special-token strings are special ids; echo; default 16 tokens', async () => {
    const r = await complete({ prompt: '<|im_start|>user\nHi<|im_end|>' });
    expect(r.body).toMatchObject({ object: 'text_completion', usage: { completion_tokens: 16 } });
    expect(r.body.id).toMatch(/^cmpl-/);
    expect(r.body.usage.prompt_tokens).toBe(model.tokenizer.encode('<|im_start|>user\nHi<|im_end|>').length);
    expect(model.tokenizer.encode('<|im_start|>')).toEqual([10]);
    const l = await complete({ prompt: ['a', 'b'], max_tokens: 2, n: 2 });
    expect(l.body.choices.map((c: any) => c.index)).toEqual([0, 1, 2, 3]);
    const ids = await complete({ prompt: [20, 30, 40], max_tokens: 2, echo: true });
    expect(ids.body.choices[0].text.startsWith(model.tokenizer.decode([20, 30, 40]))).toBe(true);
  });

  it('legacy logprobs and streaming', async () => {
    const r = await complete({ prompt: 'Hello', max_tokens: 3, logprobs: 2 });
    const lp = r.body.choices[0].logprobs;
    expect(lp.tokens).toHaveLength(3);
    expect(lp.token_logprobs).toHaveLength(3);
    expect(lp.text_offset[0]).toBe(0);
    const s = await app.request(post('/v1/completions', { prompt: 'Hello', max_tokens: 3, temperature: 0, stream: true, stream_options: { include_usage: true } }));
    const ev = parseSse(await s.text()) as any[];
    expect(ev.at(-1)).toBe('[DONE]');
    expect(ev.at(-2).usage.completion_tokens).toBe(3);
    const text = ev.filter((e) => e !== '[DONE]' && e.choices.length).map((e) => e.choices[0].text).join('');
    expect(text).toBe(r.body.choices[0].text);
  });
});

describe('auth and backpressure', () => {
  it('401 without / with a wrong key when one is configured; health stays open', async () => {
    const a = appFor(model, { apiKey: 'sekret' });
    const no = await a.request(post('/v1/chat/completions', { messages: user('x'), max_tokens: 1 }));
    expect(no.status).toBe(401);
    expect(((await no.json()) as any).error).toMatchObject({ type: 'AuthenticationError', code: 401 });
    expect((await a.request(post('/v1/chat/completions', { messages: user('x'), max_tokens: 1 }, { authorization: 'Bearer nope' }))).status).toBe(401);
    expect((await a.request(post('/v1/chat/completions', { messages: user('x'), max_tokens: 1 }, { authorization: 'Bearer sekret' }))).status).toBe(200);
    expect((await a.request('/v1/health/ready')).status).toBe(200);
    expect((await a.request('/v1/models')).status).toBe(401);
  });

  it('429 when the engine queue is full', async () => {
    const small = await loadTiny({ engine: { maxRunning: 1, maxWaiting: 0 } });
    const a = appFor(small);
    const first = a.request(post('/v1/chat/completions', { messages: user('x'), max_tokens: 200, ignore_eos: true }));
    // wait until the first request holds the only slot (a fixed sleep was flaky on a loaded machine)
    while (small.engine.stats.running + small.engine.stats.waiting === 0) await new Promise((r) => setImmediate(r));
    const second = await a.request(post('/v1/chat/completions', { messages: user('y'), max_tokens: 30 }));
    // the first request holds the only slot: either the second waits out (not allowed) or is refused
    expect(second.status).toBe(429);
    expect(((await second.json()) as any).error).toMatchObject({ type: 'RateLimitError', code: 429 });
    expect((await first).status).toBe(200);
  });
});
