/**
 * What chat and completions requests share on their way to the engine: model-name check, token budget
 * (context overflow with vLLM's wording), sampling parameters, stop ids, choice fan-out for `n`, and the
 * per-request context (served model, options, metrics, logger).
 */
import { randomBytes } from 'node:crypto';
import type { LogitsProcessor } from '../engine/engine.js';
import type { SamplingParams } from '../engine/sampling.js';
import type { ServerOptions } from './config.js';
import { ApiError, badRequest, contextOverflow } from './errors.js';
import type { ChoiceSpec } from './generation.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { ServedModel } from './model.js';
import { logitBias } from './processors.js';

export interface RouteContext {
  model: ServedModel;
  opts: ServerOptions;
  metrics: Metrics;
  log: Logger;
  requestId: string;
}

/** Sampling-related fields common to chat and completions. */
export interface SamplingFields {
  model?: string | null;
  n?: number | null;
  seed?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  ignore_eos?: boolean | null;
  min_tokens?: number | null;
  include_stop_str_in_output?: boolean | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null; continuous_usage_stats?: boolean | null } | null;
  nvext?: { top_k?: number | null; min_p?: number | null; repetition_penalty?: number | null; ignore_eos?: boolean | null } | null;
}

export const newId = (prefix: string): string => `${prefix}-${randomBytes(16).toString('hex')}`;

/** The name to report: the requested one (a served name) or the primary served name. */
export function checkModel(ctx: Pick<RouteContext, 'opts'>, requested: string | null | undefined): string {
  const names = ctx.opts.servedModelNames;
  if (requested === undefined || requested === null || requested === '') return names[0];
  if (!names.includes(requested)) throw new ApiError('model_not_found', `The model \`${requested}\` does not exist.`, 'model');
  return requested;
}

/** Checks fields that do not depend on the prompt. */
export function checkCommon(ctx: RouteContext, req: SamplingFields): void {
  const n = req.n ?? 1;
  if (n > ctx.opts.maxN) throw badRequest(`n must be at most ${ctx.opts.maxN}, got ${n}`, 'n');
  if (req.stream_options && !req.stream) throw badRequest('Stream options can only be defined when `stream=True`.', 'stream_options');
  const V = ctx.model.vocabSize;
  for (const id of req.stop_token_ids ?? []) if (id >= V) throw badRequest(`stop_token_ids: token id ${id} is outside the vocabulary [0, ${V})`, 'stop_token_ids');
  for (const k of Object.keys(req.logit_bias ?? {})) if (Number(k) >= V) throw badRequest(`logit_bias: token id ${k} is outside the vocabulary [0, ${V})`, 'logit_bias');
}

/** max_tokens after the context check; `requested` null = fill the context. */
export function tokenBudget(model: ServedModel, promptTokens: number, requested: number | null): number {
  const max = model.maxModelLen;
  if (requested !== null) {
    if (promptTokens + requested > max) throw contextOverflow(max, promptTokens, requested);
    return requested;
  }
  if (promptTokens >= max) throw contextOverflow(max, promptTokens, null);
  return max - promptTokens;
}

/** Engine sampling params for choice `i` (seeded choices get seed + i so n > 1 differ reproducibly). */
export function samplingFor(model: ServedModel, req: SamplingFields, i: number): SamplingParams {
  const gen = model.engine.lm.generation;
  const p: SamplingParams = { temperature: req.temperature ?? gen.temperature ?? 1 };
  const topP = req.top_p ?? gen.topP;
  const topK = req.top_k ?? req.nvext?.top_k ?? gen.topK;
  const minP = req.min_p ?? req.nvext?.min_p;
  const rep = req.repetition_penalty ?? req.nvext?.repetition_penalty;
  if (topP !== undefined) p.topP = topP;
  if (topK !== undefined) p.topK = topK;
  if (minP !== undefined && minP !== null) p.minP = minP;
  if (rep !== undefined && rep !== null) p.repetitionPenalty = rep;
  if (req.presence_penalty) p.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty) p.frequencyPenalty = req.frequency_penalty;
  if (req.seed !== undefined && req.seed !== null) p.seed = (req.seed + i) >>> 0;
  return p;
}

export interface ChoicePlan {
  prompt: number[];
  maxTokens: number;
  logprobs?: number;
  /** Extra processors built fresh per choice (they hold per-sequence state). */
  processors?: () => LogitsProcessor[];
}

/** One ChoiceSpec per choice (`n`), each with its own processors and seed. */
export function choiceSpecs(ctx: RouteContext, req: SamplingFields, plan: ChoicePlan, signal: AbortSignal): ChoiceSpec[] {
  const model = ctx.model;
  const ignoreEos = req.ignore_eos ?? req.nvext?.ignore_eos ?? false;
  const requestStopIds = req.stop_token_ids ?? [];
  const stopTokenIds = [...new Set([...(ignoreEos ? [] : model.eosIds), ...requestStopIds])];
  const stopStrings = req.stop === undefined || req.stop === null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  const bias = req.logit_bias;
  const minTokens = req.min_tokens ?? 0;
  // min_tokens: stop tokens are masked until that many tokens exist (before any constraint, which may override)
  const minProc = (): LogitsProcessor => (generated, logits) => {
    if (generated.length < minTokens) for (const id of stopTokenIds) if (id < logits.length) logits[id] = -Infinity;
  };
  return Array.from({ length: req.n ?? 1 }, (_, i) => ({
    prompt: plan.prompt,
    maxTokens: plan.maxTokens,
    sampling: samplingFor(model, req, i),
    stopTokenIds,
    requestStopIds,
    stopStrings,
    includeStopStr: req.include_stop_str_in_output ?? false,
    logprobs: plan.logprobs,
    processors: () => [...(bias ? [logitBias(bias)] : []), ...(minTokens > 0 ? [minProc()] : []), ...(plan.processors?.() ?? [])],
    signal,
  }));
}

/** Per-request timing -> metrics (TTFT once, inter-token gaps, end-to-end). */
export class RequestTimer {
  private readonly t0 = performance.now();
  private first = true;
  private prev = 0;
  constructor(private readonly metrics: Metrics) {}
  token(): void {
    const now = performance.now();
    const labels = this.metrics.labels;
    if (this.first) {
      this.first = false;
      this.metrics.ttft.observe(labels, (now - this.t0) / 1000);
    } else {
      this.metrics.itl.observe(labels, (now - this.prev) / 1000);
      this.metrics.tpot.observe(labels, (now - this.prev) / 1000);
    }
    this.prev = now;
  }
  done(promptTokens: number, completionTokens: number, reasons: string[]): void {
    const labels = this.metrics.labels;
    this.metrics.e2e.observe(labels, (performance.now() - this.t0) / 1000);
    this.metrics.promptTokens.inc(labels, promptTokens);
    this.metrics.generationTokens.inc(labels, completionTokens);
    this.metrics.promptHist.observe(labels, promptTokens);
    this.metrics.genHist.observe(labels, completionTokens);
    for (const r of reasons) this.metrics.requestSuccess.inc({ ...labels, finish_reason: r });
  }
}
