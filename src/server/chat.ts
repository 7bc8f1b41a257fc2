/**
 * POST /v1/chat/completions: validate, render the chat template (Python-Jinja semantics), tokenize, build
 * the per-choice engine requests (sampling, stop, logprobs, reasoning budget, constrained decoding for
 * response_format and tool_choice required/named), then answer as one JSON body or as an SSE stream in the
 * vLLM / OpenAI shape (serving-spec 0.5-0.6, 4.2-4.3).
 */
import { promptOpensReasoning } from '../parsers/index.js';
import { compileSchema, grammarConstraint, anyJsonObject, SchemaError, type Node } from '../structured/index.js';
import { ChatInputError, ChatTemplate, ChatTemplateError } from '../template/index.js';
import { ChatAssembler, type AssemblerOptions, type FinalMessage, type WireDelta } from './chat-output.js';
import { ApiError, badRequest } from './errors.js';
import { runChoice, submitAll, type ChoiceEnd, type TokenLogprob } from './generation.js';
import { reasoningBudget } from './processors.js';
import { chatRequestSchema, parseRequest, type ChatRequest } from './protocol.js';
import { checkCommon, checkModel, choiceSpecs, newId, RequestTimer, tokenBudget, type RouteContext } from './request.js';
import { sseResponse } from './sse.js';

type Tool = NonNullable<ChatRequest['tools']>[number];

/** What the request asks the output to be. */
interface OutputPlan {
  mode: AssemblerOptions['mode'];
  grammar: Node | null;
  namedTool?: string;
}

function schemaError(e: unknown, param: string): never {
  if (e instanceof SchemaError) throw badRequest(`${param}: ${e.message}`, param);
  throw e;
}

/** tool_choice / response_format -> output mode and grammar. */
function planOutput(req: ChatRequest): OutputPlan {
  const tools = req.tools ?? null;
  tools?.forEach((t, i) => {
    const p = t.function.parameters;
    if (p && p.type !== undefined && p.type !== 'object') throw badRequest(`tools[${i}].function.parameters must be a JSON schema of type "object"`, `tools[${i}].function.parameters`);
  });
  const names = new Set<string>();
  tools?.forEach((t, i) => {
    if (names.has(t.function.name)) throw badRequest(`tools[${i}].function.name: duplicate tool name "${t.function.name}"`, `tools[${i}].function.name`);
    names.add(t.function.name);
  });
  const choice = req.tool_choice ?? (tools ? 'auto' : 'none');
  const rf = req.response_format;
  const guided = req.guided_json ?? req.nvext?.guided_json;
  const wantsJson = (rf && rf.type !== 'text') || guided !== undefined && guided !== null;
  if (typeof choice === 'object' || choice === 'required') {
    if (!tools) throw badRequest(`tool_choice ${typeof choice === 'object' ? 'naming a function' : '"required"'} needs tools`, 'tool_choice');
    if (wantsJson) throw badRequest('response_format cannot be combined with tool_choice "required" or a named tool', 'response_format');
  }
  if (typeof choice === 'object') {
    const i = tools!.findIndex((t) => t.function.name === choice.function.name);
    if (i < 0) throw badRequest(`tool_choice names function "${choice.function.name}", which is not in tools`, 'tool_choice');
    const params = tools![i].function.parameters ?? { type: 'object', properties: {} };
    let grammar: Node;
    try {
      grammar = compileSchema(params, { lenient: tools![i].function.strict !== true });
    } catch (e) {
      schemaError(e, `tools[${i}].function.parameters`);
    }
    return { mode: 'named', grammar, namedTool: choice.function.name };
  }
  if (choice === 'required') {
    const items = tools!.map((t: Tool) => ({
      type: 'object',
      properties: { name: { const: t.function.name }, parameters: t.function.parameters ?? { type: 'object', properties: {} } },
      required: ['name', 'parameters'],
      additionalProperties: false,
    }));
    const schema = { type: 'array', minItems: 1, ...(req.parallel_tool_calls === false ? { maxItems: 1 } : {}), items: { anyOf: items } };
    let grammar: Node;
    try {
      grammar = compileSchema(schema, { lenient: !tools!.some((t) => t.function.strict === true) });
    } catch (e) {
      schemaError(e, 'tools');
    }
    return { mode: 'required', grammar };
  }
  if (rf?.type === 'json_object') return { mode: 'text', grammar: anyJsonObject() };
  if (rf?.type === 'json_schema' || (guided !== undefined && guided !== null)) {
    let schema: unknown = rf?.type === 'json_schema' ? (rf.json_schema.schema ?? {}) : guided;
    const param = rf?.type === 'json_schema' ? 'response_format.json_schema.schema' : 'guided_json';
    if (typeof schema === 'string') {
      try {
        schema = JSON.parse(schema);
      } catch {
        throw badRequest(`${param} is not valid JSON`, param);
      }
    }
    // json_schema.strict (OpenAI): true = a contract (unsupported keywords refused); otherwise best effort
    const strict = rf?.type === 'json_schema' ? rf.json_schema.strict === true : false;
    try {
      return { mode: 'text', grammar: compileSchema(schema, { lenient: !strict }) };
    } catch (e) {
      schemaError(e, param);
    }
  }
  return { mode: 'text', grammar: null };
}

/** Renders the prompt text. */
function renderPrompt(ctx: RouteContext, req: ChatRequest, kwargs: Record<string, unknown>): string {
  let template: ChatTemplate;
  try {
    if (req.chat_template) template = new ChatTemplate(req.chat_template);
    else if (ctx.model.templates) template = ctx.model.templates.select(undefined, !!req.tools);
    else throw badRequest('this model has no chat template; use /v1/completions or start the server with --chat-template', null);
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw badRequest(`chat_template: ${(e as Error).message}`, 'chat_template');
  }
  const cont = req.continue_final_message ?? false;
  if (cont && req.add_generation_prompt === true) throw badRequest('continue_final_message and add_generation_prompt cannot both be true', 'continue_final_message');
  try {
    let text = template.render(req.messages, {
      tools: req.tools ?? null,
      documents: req.documents ?? null,
      addGenerationPrompt: cont ? false : (req.add_generation_prompt ?? true),
      templateKwargs: kwargs,
    });
    if (cont) {
      const last = req.messages[req.messages.length - 1] as { role?: unknown; content?: unknown };
      if (last?.role !== 'assistant' || typeof last.content !== 'string') throw badRequest('continue_final_message needs a final assistant message with string content', 'messages');
      const at = text.lastIndexOf(last.content.trim());
      if (at >= 0) text = text.slice(0, at + last.content.trim().length);
    }
    return text;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    if (e instanceof ChatInputError) throw badRequest(e.message, e.param);
    if (e instanceof ChatTemplateError) throw badRequest(`the chat template failed: ${e.message}`, 'messages');
    throw e;
  }
}

const lpBlock = (lp: TokenLogprob[]) => (lp.length ? { content: lp } : null);

/** Handles a parsed JSON body; `signal` aborts when the client disconnects. */
export async function chatCompletions(ctx: RouteContext, body: unknown, signal?: AbortSignal): Promise<Response> {
  const req = parseRequest(chatRequestSchema, body);
  const modelName = checkModel(ctx, req.model);
  checkCommon(ctx, req);
  if (req.top_logprobs && !req.logprobs) throw badRequest('top_logprobs requires logprobs to be true', 'top_logprobs');
  if ((req.top_logprobs ?? 0) > ctx.opts.maxLogprobs) throw badRequest(`top_logprobs must be at most ${ctx.opts.maxLogprobs}`, 'top_logprobs');
  const plan = planOutput(req);

  const kwargs: Record<string, unknown> = { ...(req.chat_template_kwargs ?? {}) };
  if (kwargs.enable_thinking === undefined && req.reasoning_effort === 'none') kwargs.enable_thinking = false;
  const forceNonempty = kwargs.force_nonempty_content === true;
  const promptText = renderPrompt(ctx, req, kwargs);
  const { model } = ctx;
  const prompt = model.tokenizer.encode(promptText, { addSpecialTokens: req.add_special_tokens ?? false });
  const maxTokens = tokenBudget(model, prompt.length, req.max_completion_tokens ?? req.max_tokens ?? null);
  const thinking = promptOpensReasoning(promptText);
  const thinkEndId = model.tokenizer.specialTokens.thinkEnd;
  const budget = req.reasoning_budget ?? req.thinking_token_budget ?? req.nvext?.max_thinking_tokens ?? null;
  if (budget !== null && thinking && thinkEndId === undefined) throw badRequest('reasoning_budget needs a tokenizer with a </think> token', 'reasoning_budget');

  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const stopIds = model.eosIds;
  const specs = choiceSpecs(
    ctx,
    req,
    {
      prompt,
      maxTokens,
      logprobs: req.logprobs ? (req.top_logprobs ?? 0) : undefined,
      processors: () => [
        ...(budget !== null && thinking && thinkEndId !== undefined ? [reasoningBudget({ budget, thinkEndId, bytesOf: (id) => model.textBytes(id) })] : []),
        ...(plan.grammar ? [grammarConstraint({ grammar: plan.grammar, vocab: model.vocab(), stopIds, maxTokens, reasoning: thinking ? { thinkEndId } : null })] : []),
      ],
    },
    ac.signal,
  );
  const toolChoice = req.tool_choice ?? (req.tools ? 'auto' : 'none');
  const asm = (): ChatAssembler =>
    new ChatAssembler({
      mode: plan.mode,
      thinking,
      tools: req.tools ?? null,
      parseToolCalls: toolChoice === 'auto' && !!req.tools,
      forceNonemptyContent: forceNonempty,
      namedTool: plan.namedTool,
      reasoningFields: ctx.opts.reasoningFields,
      includeReasoning: req.include_reasoning ?? true,
      parallelToolCalls: req.parallel_tool_calls ?? true,
    });
  const finishReason = (end: ChoiceEnd, msg: FinalMessage): string => {
    if (msg.toolCalls.length && plan.mode !== 'named') return 'tool_calls';
    return end.reason === 'abort' ? 'stop' : end.reason;
  };

  const handles = submitAll(model, specs, ac, () => signal?.removeEventListener('abort', onAbort));
  const timer = new RequestTimer(ctx.metrics);
  const id = newId('chatcmpl');
  const created = Math.floor(Date.now() / 1000);
  const usage = (completion: number) => ({ prompt_tokens: prompt.length, completion_tokens: completion, total_tokens: prompt.length + completion, prompt_tokens_details: null });
  const rf = ctx.opts.reasoningFields;
  const reasoningOf = (r: string | null) => ({ ...(rf !== 'reasoning' ? { reasoning_content: r } : {}), ...(rf !== 'reasoning_content' ? { reasoning: r } : {}) });
  ctx.log.info('chat request', { request_id: ctx.requestId, prompt_tokens: prompt.length, max_tokens: maxTokens, n: specs.length, stream: !!req.stream, mode: plan.mode, json: !!plan.grammar });

  if (!req.stream) {
    try {
      const choices = await Promise.all(
        specs.map(async (spec, index) => {
          const a = asm();
          const lps: TokenLogprob[] = [];
          const it = runChoice(model, handles[index], spec, timer);
          let r = await it.next();
          while (!r.done) {
            a.feed(r.value.text);
            lps.push(...r.value.logprobs);
            r = await it.next();
          }
          const end = r.value;
          const { message } = a.finish();
          return { end, message, lps, index };
        }),
      );
      const completion = choices.reduce((s, c) => s + c.end.completionTokens, 0);
      const body = {
        id,
        object: 'chat.completion',
        created,
        model: modelName,
        choices: choices.map(({ end, message, lps, index }) => ({
          index,
          message: {
            role: 'assistant',
            content: message.content,
            refusal: null,
            annotations: null,
            audio: null,
            function_call: null,
            tool_calls: message.toolCalls,
            ...reasoningOf(message.reasoning),
          },
          logprobs: spec0(req.logprobs) ? { content: lps } : null,
          finish_reason: finishReason(end, message),
          stop_reason: end.stopReason,
        })),
        usage: usage(completion),
        system_fingerprint: null,
        service_tier: null,
        prompt_logprobs: null,
        kv_transfer_params: null,
      };
      timer.done(prompt.length, completion, body.choices.map((c) => c.finish_reason));
      return Response.json(body);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      ac.abort(); // frees anything still running (error in one choice)
    }
  }

  const includeUsage = req.stream_options?.include_usage ?? false;
  const continuous = req.stream_options?.continuous_usage_stats ?? false;
  return sseResponse(
    async (send, streamSignal) => {
      streamSignal.addEventListener('abort', () => ac.abort(), { once: true });
      let completion = 0;
      const chunk = (index: number, delta: WireDelta, extra: Record<string, unknown> = {}) => {
        const c: Record<string, unknown> = {
          id,
          object: 'chat.completion.chunk',
          created,
          model: modelName,
          choices: [{ index, delta, logprobs: null, finish_reason: null, ...extra }],
        };
        if (continuous) c.usage = usage(completion);
        send(c);
      };
      const reasons: string[] = [];
      try {
        await Promise.all(
          specs.map(async (spec, index) => {
            const a = asm();
            chunk(index, { role: 'assistant', content: '' });
            let pending: TokenLogprob[] = [];
            const it = runChoice(model, handles[index], spec, timer);
            let r = await it.next();
            while (!r.done) {
              pending.push(...r.value.logprobs);
              const d = a.feed(r.value.text);
              if (d) {
                chunk(index, d, { logprobs: lpBlock(pending) });
                pending = [];
              }
              r = await it.next();
            }
            const end = r.value;
            completion += end.completionTokens;
            if (end.reason === 'abort' && ac.signal.aborted) return; // client gone: nothing more to say
            const { delta, message } = a.finish();
            const reason = finishReason(end, message);
            reasons.push(reason);
            chunk(index, delta ?? {}, { logprobs: lpBlock(pending), finish_reason: reason, stop_reason: end.stopReason });
          }),
        );
        if (includeUsage) send({ id, object: 'chat.completion.chunk', created, model: modelName, choices: [], usage: usage(completion) });
        timer.done(prompt.length, completion, reasons);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        ac.abort();
      }
    },
    signal,
    ctx.log,
  );
}

const spec0 = (b: boolean | null | undefined): boolean => b === true;
