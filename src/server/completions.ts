/**
 * POST /v1/completions: raw prompts (string, strings, token ids or lists of them; special-token strings such
 * as `<|im_start|>` become their ids, serving-spec 0.10), no chat template and no output parsing. Choices are
 * numbered prompt-major (prompt i, sample j -> index i*n + j) like vLLM.
 */
import { badRequest } from './errors.js';
import { runChoice, submitAll, type ChoiceEnd, type TokenLogprob } from './generation.js';
import { completionRequestSchema, parseRequest } from './protocol.js';
import { checkCommon, checkModel, choiceSpecs, newId, RequestTimer, tokenBudget, type RouteContext } from './request.js';
import { sseResponse } from './sse.js';
import type { ChoiceSpec } from './generation.js';

/** OpenAI legacy logprobs block for a run of tokens starting at text offset `offset`. */
function legacyLogprobs(lps: TokenLogprob[], offset: number) {
  const text_offset: number[] = [];
  let o = offset;
  for (const t of lps) {
    text_offset.push(o);
    o += t.token.length;
  }
  return {
    tokens: lps.map((t) => t.token),
    token_logprobs: lps.map((t) => t.logprob),
    top_logprobs: lps.map((t) => Object.fromEntries(t.top_logprobs.map((x) => [x.token, x.logprob]))),
    text_offset,
  };
}

export async function completions(ctx: RouteContext, body: unknown, signal?: AbortSignal): Promise<Response> {
  const req = parseRequest(completionRequestSchema, body);
  const modelName = checkModel(ctx, req.model);
  checkCommon(ctx, req);
  if (req.best_of != null && req.best_of !== (req.n ?? 1)) throw badRequest('best_of other than n is not supported', 'best_of');
  if ((req.logprobs ?? 0) > ctx.opts.maxLogprobs) throw badRequest(`logprobs must be at most ${ctx.opts.maxLogprobs}`, 'logprobs');
  const { model } = ctx;
  const raw = req.prompt;
  const prompts: number[][] =
    typeof raw === 'string'
      ? [model.tokenizer.encode(raw, { addSpecialTokens: req.add_special_tokens ?? true })]
      : typeof raw[0] === 'string'
        ? (raw as string[]).map((p) => model.tokenizer.encode(p, { addSpecialTokens: req.add_special_tokens ?? true }))
        : typeof raw[0] === 'number'
          ? [raw as number[]]
          : (raw as number[][]);
  prompts.forEach((p, i) => {
    if (p.length === 0) throw badRequest(`prompt${prompts.length > 1 ? `[${i}]` : ''} is empty`, 'prompt');
    const bad = p.find((t) => t >= model.vocabSize);
    if (bad !== undefined) throw badRequest(`prompt token ${bad} is outside the vocabulary [0, ${model.vocabSize})`, 'prompt');
  });
  const requested = req.max_tokens ?? 16;
  const budgets = prompts.map((p) => tokenBudget(model, p.length, requested));
  const promptTexts = req.echo ? prompts.map((p) => model.tokenizer.decode(p)) : null;
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const n = req.n ?? 1;
  const specs: ChoiceSpec[] = prompts.flatMap((p, i) => choiceSpecs(ctx, req, { prompt: p, maxTokens: budgets[i], logprobs: req.logprobs ?? undefined }, ac.signal));
  const handles = submitAll(model, specs, ac, () => signal?.removeEventListener('abort', onAbort));
  const promptTokens = prompts.reduce((s, p) => s + p.length, 0);
  const timer = new RequestTimer(ctx.metrics);
  const id = newId('cmpl');
  const created = Math.floor(Date.now() / 1000);
  const usage = (c: number) => ({ prompt_tokens: promptTokens, completion_tokens: c, total_tokens: promptTokens + c, prompt_tokens_details: null });
  const wantLp = req.logprobs !== undefined && req.logprobs !== null;
  ctx.log.info('completion request', { request_id: ctx.requestId, prompts: prompts.length, prompt_tokens: promptTokens, n, stream: !!req.stream });

  if (!req.stream) {
    try {
      const choices = await Promise.all(
        specs.map(async (spec, index) => {
          let text = promptTexts ? promptTexts[Math.floor(index / n)] : '';
          const offset = text.length;
          const lps: TokenLogprob[] = [];
          const it = runChoice(model, handles[index], spec, timer);
          let r = await it.next();
          while (!r.done) {
            text += r.value.text;
            lps.push(...r.value.logprobs);
            r = await it.next();
          }
          const end: ChoiceEnd = r.value;
          return { index, text, logprobs: wantLp ? legacyLogprobs(lps, offset) : null, finish_reason: end.reason === 'abort' ? 'stop' : end.reason, stop_reason: end.stopReason, tokens: end.completionTokens };
        }),
      );
      const completion = choices.reduce((s, c) => s + c.tokens, 0);
      timer.done(promptTokens, completion, choices.map((c) => c.finish_reason));
      return Response.json({
        id,
        object: 'text_completion',
        created,
        model: modelName,
        choices: choices.map(({ tokens: _t, ...c }) => c),
        usage: usage(completion),
        system_fingerprint: null,
        kv_transfer_params: null,
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      ac.abort();
    }
  }

  const includeUsage = req.stream_options?.include_usage ?? false;
  return sseResponse(
    async (send, streamSignal) => {
      streamSignal.addEventListener('abort', () => ac.abort(), { once: true });
      let completion = 0;
      const reasons: string[] = [];
      const chunk = (index: number, text: string, extra: Record<string, unknown>) =>
        send({ id, object: 'text_completion', created, model: modelName, choices: [{ index, text, logprobs: null, finish_reason: null, stop_reason: null, ...extra }] });
      try {
        await Promise.all(
          specs.map(async (spec, index) => {
            let offset = 0;
            if (promptTexts) {
              const t = promptTexts[Math.floor(index / n)];
              chunk(index, t, {});
              offset = t.length;
            }
            const it = runChoice(model, handles[index], spec, timer);
            let r = await it.next();
            while (!r.done) {
              const { text, logprobs } = r.value;
              if (text || logprobs.length) chunk(index, text, { logprobs: wantLp ? legacyLogprobs(logprobs, offset) : null });
              offset += text.length;
              r = await it.next();
            }
            const end = r.value;
            completion += end.completionTokens;
            if (end.reason === 'abort' && ac.signal.aborted) return;
            reasons.push(end.reason);
            chunk(index, '', { finish_reason: end.reason === 'abort' ? 'stop' : end.reason, stop_reason: end.stopReason });
          }),
        );
        if (includeUsage) send({ id, object: 'text_completion', created, model: modelName, choices: [], usage: usage(completion) });
        timer.done(promptTokens, completion, reasons);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        ac.abort();
      }
    },
    signal,
    ctx.log,
  );
}

