/** LangChain.js ChatOpenAI against the running server: invoke, streaming, bindTools, withStructuredOutput. */
import { AIMessageChunk, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../src/server/logger.js';
import type { ServedModel } from '../../src/server/model.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadTiny, MODEL_NAME, scriptOutput, testOptions } from '../server/helpers.js';

let srv: RunningServer;
let model: ServedModel;
let restore: (() => void) | null = null;
beforeAll(async () => {
  model = await loadTiny();
  srv = await startServer(testOptions(), silentLogger, () => model);
});
afterAll(() => srv.close());
afterEach(() => {
  restore?.();
  restore = null;
});

const chatModel = (extra: Record<string, unknown> = {}) =>
  new ChatOpenAI({ model: MODEL_NAME, apiKey: 'none', temperature: 0, maxTokens: 60, maxRetries: 0, configuration: { baseURL: `${srv.url}/v1` }, ...extra });

const weather = tool(async ({ city }: { city: string }) => `It is 20C in ${city}`, {
  name: 'get_weather',
  description: 'Current weather in a city',
  schema: z.object({ city: z.string().max(12) }),
});

describe('LangChain.js ChatOpenAI', () => {
  it('invoke: content and reasoning_content in additional_kwargs', async () => {
    restore = scriptOutput(model, 'Short thought.</think>Hi there.');
    const r = await chatModel().invoke([new HumanMessage('Hello')]);
    expect(r.content).toBe('Hi there.');
    expect(r.additional_kwargs.reasoning_content).toBe('Short thought.');
  });

  it('stream: chunks concatenate to the answer (usage chunk with choices [] handled)', async () => {
    restore = scriptOutput(model, 'Thinking.</think>Streaming works fine.');
    let acc: AIMessageChunk | undefined;
    let n = 0;
    for await (const chunk of await chatModel({ streamUsage: true }).stream('Go')) {
      acc = acc ? acc.concat(chunk) : chunk;
      n++;
    }
    expect(n).toBeGreaterThan(2);
    expect(acc!.content).toBe('Streaming works fine.');
    expect(acc!.usage_metadata?.output_tokens).toBeGreaterThan(0);
  });

  it('bindTools with tool_choice (constrained): a valid call, then the tool result goes back', async () => {
    const llm = chatModel({ modelKwargs: { chat_template_kwargs: { enable_thinking: false } } }).bindTools([weather], { tool_choice: 'get_weather' });
    const ai = await llm.invoke([new HumanMessage('Weather in Rome?')]);
    expect(ai.tool_calls).toHaveLength(1);
    const call = ai.tool_calls![0];
    expect(call.name).toBe('get_weather');
    expect(typeof call.args.city).toBe('string');
    const result = await weather.invoke(call);
    const follow = await chatModel({ maxTokens: 5 }).invoke([new HumanMessage('Weather in Rome?'), ai, result as ToolMessage]);
    expect(follow.response_metadata.finish_reason).toBeDefined();
  });

  it('bindTools, streaming: tool_call_chunks from the model XML (tool_choice auto)', async () => {
    restore = scriptOutput(model, 'Need a tool.</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nLima\n</parameter>\n</function>\n</tool_call>');
    let acc: AIMessageChunk | undefined;
    for await (const chunk of await chatModel({ maxTokens: 100 }).bindTools([weather]).stream('Weather in Lima?')) acc = acc ? acc.concat(chunk) : chunk;
    expect(acc!.tool_calls).toEqual([expect.objectContaining({ name: 'get_weather', args: { city: 'Lima' } })]);
    expect(acc!.additional_kwargs.reasoning_content).toBe('Need a tool.');
  });

  it('withStructuredOutput (json_schema and functionCalling) returns schema-valid objects', async () => {
    const Person = z.object({ name: z.string().max(8), age: z.number().int().min(0).max(120) });
    const viaSchema = await chatModel().withStructuredOutput(Person, { name: 'person', method: 'jsonSchema' }).invoke('Make up a person.');
    expect(Person.parse(viaSchema)).toEqual(viaSchema);
    const viaTool = await chatModel({ modelKwargs: { chat_template_kwargs: { enable_thinking: false } } })
      .withStructuredOutput(Person, { name: 'person', method: 'functionCalling' })
      .invoke('Make up a person.');
    expect(Person.parse(viaTool)).toEqual(viaTool);
  });
});
