/** The Vercel AI SDK (ai@6 + @ai-sdk/openai-compatible@2) against the running server. */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../src/server/logger.js';
import type { ServedModel } from '../../src/server/model.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadTiny, MODEL_NAME, scriptOutput, testOptions } from '../server/helpers.js';

let srv: RunningServer;
let model: ServedModel;
let restore: (() => void) | null = null;
let provider: ReturnType<typeof createOpenAICompatible>;
beforeAll(async () => {
  model = await loadTiny();
  srv = await startServer(testOptions({ apiKey: 'abc' }), silentLogger, () => model);
  provider = createOpenAICompatible({ name: 'nemotron', baseURL: `${srv.url}/v1`, apiKey: 'abc', includeUsage: true, supportsStructuredOutputs: true });
});
afterAll(() => srv.close());
afterEach(() => {
  restore?.();
  restore = null;
});

const thinkingOff = { nemotron: { chat_template_kwargs: { enable_thinking: false } } };
const weather = tool({
  description: 'Current weather in a city',
  inputSchema: z.object({ city: z.string().max(10) }),
  execute: async ({ city }) => ({ city, celsius: 21 }),
});

describe('Vercel AI SDK, openai-compatible provider', () => {
  it('generateText: text, reasoning, usage', async () => {
    restore = scriptOutput(model, 'A thought.</think>Final words.');
    const r = await generateText({ model: provider(MODEL_NAME), prompt: 'Hi', maxOutputTokens: 40, temperature: 0, maxRetries: 0 });
    expect(r.text).toBe('Final words.');
    expect(r.reasoningText).toBe('A thought.');
    expect(r.finishReason).toBe('stop');
    expect(r.usage.outputTokens).toBeGreaterThan(0);
  });

  it('streamText: text deltas and reasoning parts, finish reason', async () => {
    restore = scriptOutput(model, 'Mull it over.</think>Streamed reply.');
    const r = streamText({ model: provider(MODEL_NAME), prompt: 'Hi', maxOutputTokens: 40, temperature: 0, maxRetries: 0 });
    let text = '';
    for await (const t of r.textStream) text += t;
    expect(text).toBe('Streamed reply.');
    expect(await r.reasoningText).toBe('Mull it over.');
    expect(await r.finishReason).toBe('stop');
  });

  it('tools with toolChoice required (constrained) run and feed the result back (2 steps)', async () => {
    const r = await generateText({
      model: provider(MODEL_NAME),
      prompt: 'Weather in Bern?',
      tools: { get_weather: weather },
      toolChoice: 'required',
      maxOutputTokens: 80, // the shortest call, [{"name":"get_weather","parameters":{"city":""}}], is 47 bytes
      temperature: 0,
      maxRetries: 0,
      providerOptions: thinkingOff,
    });
    expect(r.toolCalls).toHaveLength(1);
    expect(r.toolCalls[0].toolName).toBe('get_weather');
    expect(r.toolResults[0].output).toMatchObject({ celsius: 21 });
    const two = await generateText({
      model: provider(MODEL_NAME),
      prompt: 'Weather in Bern?',
      tools: { get_weather: weather },
      toolChoice: { type: 'tool', toolName: 'get_weather' },
      prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { toolChoice: 'none' } : {}),
      stopWhen: stepCountIs(2),
      maxOutputTokens: 20,
      temperature: 0,
      maxRetries: 0,
      providerOptions: thinkingOff,
    });
    expect(two.steps).toHaveLength(2);
    expect(two.steps[0].toolCalls[0].toolName).toBe('get_weather');
  });

  it('streamText with tool calls parsed from the model XML (tool_choice auto)', async () => {
    restore = scriptOutput(model, 'Use the tool.</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nBern\n</parameter>\n</function>\n</tool_call>');
    const r = streamText({ model: provider(MODEL_NAME), prompt: 'Weather in Bern?', tools: { get_weather: weather }, maxOutputTokens: 100, maxRetries: 0 });
    for await (const _ of r.fullStream) void _;
    const calls = await r.toolCalls;
    expect(calls.map((c) => [c.toolName, c.input])).toEqual([['get_weather', { city: 'Bern' }]]);
    expect(await r.finishReason).toBe('tool-calls');
  });

  it('generateObject with a json_schema response format', async () => {
    const schema = z.object({ title: z.string().max(12), stars: z.number().int().min(1).max(5), tags: z.array(z.enum(['a', 'b'])).max(2) });
    const r = await generateObject({ model: provider(MODEL_NAME), schema, prompt: 'Review a film.', maxOutputTokens: 80, temperature: 0, maxRetries: 0 });
    expect(schema.parse(r.object)).toEqual(r.object);
  });

  it('errors reach the SDK as APICallError with the server message', async () => {
    const err = await generateText({ model: provider('unknown-model'), prompt: 'x', maxRetries: 0 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/does not exist/);
  });
});
