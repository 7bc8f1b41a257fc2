/**
 * One choice of a request, from engine tokens to text: submits to the engine, decodes tokens incrementally
 * (UTF-8 safe; special tokens other than the chat tags are not text), applies stop strings, and collects
 * per-token logprobs. Yields text pieces with the tokens that produced them; returns how the choice ended.
 */
import { EngineError, type LogitsProcessor, type RequestHandle } from '../engine/engine.js';
import type { SamplingParams } from '../engine/sampling.js';
import { ApiError } from './errors.js';
import type { ServedModel } from './model.js';
import { StopStringMatcher } from './stop-strings.js';

export interface ChoiceSpec {
  prompt: number[];
  maxTokens: number;
  sampling: SamplingParams;
  stopTokenIds: number[];
  /** Request's own stop_token_ids (reported as stop_reason). */
  requestStopIds: number[];
  stopStrings: string[];
  includeStopStr: boolean;
  /** Top logprobs per token (undefined = no logprobs). */
  logprobs?: number;
  processors: () => LogitsProcessor[];
  signal: AbortSignal;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export interface Piece {
  text: string;
  logprobs: TokenLogprob[];
}

export interface ChoiceEnd {
  reason: 'stop' | 'length' | 'abort';
  stopReason: string | number | null;
  completionTokens: number;
}

/** Timing hooks for metrics. */
export interface TokenTimer {
  token(): void;
}

/** Maps engine refusals to API errors. */
export function engineError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof EngineError) {
    switch (e.code) {
      case 'queue_full':
        return new ApiError('queue_full', `The server is busy: ${e.message}`);
      case 'context_overflow':
        return new ApiError('context_overflow', e.message);
      case 'invalid_request':
        return new ApiError('invalid_request', e.message);
      case 'shutdown':
        return new ApiError('shutting_down', 'The server is shutting down');
      default:
        return new ApiError('internal', 'The engine failed while generating', null, { cause: e });
    }
  }
  return new ApiError('internal', 'internal server error', null, { cause: e });
}

/**
 * Submits every choice of a request before answering, so refusals (429, 400) are plain HTTP errors; on a refusal
 * the choices already queued are cancelled through `ac` and the client-abort listener is removed.
 */
export function submitAll(model: ServedModel, specs: readonly ChoiceSpec[], ac: AbortController, cleanup: () => void): RequestHandle[] {
  const handles: RequestHandle[] = [];
  try {
    for (const s of specs) handles.push(submitChoice(model, s));
  } catch (e) {
    ac.abort();
    cleanup();
    throw e;
  }
  return handles;
}

/** Submits a choice to the engine (throws ApiError on refusal). */
export function submitChoice(model: ServedModel, spec: ChoiceSpec): RequestHandle {
  try {
    return model.engine.submit({
      prompt: spec.prompt,
      maxTokens: spec.maxTokens,
      sampling: spec.sampling,
      stopTokenIds: spec.stopTokenIds,
      logprobs: spec.logprobs,
      logitsProcessors: spec.processors(),
      signal: spec.signal,
    });
  } catch (e) {
    throw engineError(e);
  }
}

const lossy = new TextDecoder('utf-8', { ignoreBOM: true });

function tokenEntry(model: ServedModel, id: number, logprob: number): { token: string; logprob: number; bytes: number[] } {
  const b = model.tokenizer.idBytes(id, false) ?? new Uint8Array();
  return { token: lossy.decode(b), logprob: Math.max(logprob, -9999), bytes: [...b] };
}

/** Runs one submitted choice to its end (see module comment). */
export async function* runChoice(model: ServedModel, handle: RequestHandle, spec: ChoiceSpec, timer?: TokenTimer): AsyncGenerator<Piece, ChoiceEnd> {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const stops = new StopStringMatcher(spec.stopStrings, spec.includeStopStr);
  const stopIds = new Set(spec.stopTokenIds);
  let count = 0;
  let last: ChoiceEnd['reason'] = 'abort';
  let stopReason: string | number | null = null;
  try {
    for await (const ev of handle) {
      count++;
      timer?.token();
      const lp: TokenLogprob[] = [];
      if (spec.logprobs !== undefined && ev.logprob !== undefined) {
        lp.push({ ...tokenEntry(model, ev.token, ev.logprob), top_logprobs: (ev.topLogprobs ?? []).map((t) => tokenEntry(model, t.token, t.logprob)) });
      }
      const isStopToken = ev.finishReason === 'stop' && stopIds.has(ev.token);
      let text = '';
      if (!isStopToken) {
        const b = model.textBytes(ev.token);
        if (b && b.length) text = decoder.decode(b, { stream: true });
      }
      if (ev.finishReason) {
        text += decoder.decode();
        last = ev.finishReason === 'length' ? 'length' : 'stop';
        if (isStopToken && spec.requestStopIds.includes(ev.token)) stopReason = ev.token;
      }
      const r = stops.push(text);
      if (r.hit !== null) {
        handle.cancel();
        yield { text: r.emit, logprobs: lp };
        return { reason: 'stop', stopReason: r.hit, completionTokens: count };
      }
      if (ev.finishReason) {
        yield { text: r.emit + stops.flush(), logprobs: lp };
        return { reason: last, stopReason, completionTokens: count };
      }
      if (r.emit !== '' || lp.length) yield { text: r.emit, logprobs: lp };
    }
  } catch (e) {
    throw engineError(e);
  } finally {
    handle.cancel(); // a consumer that stops early (disconnect) frees the engine state
  }
  // the engine stopped without a finish reason: cancelled (client gone or shutdown)
  const rest = decoder.decode() + stops.flush();
  if (rest) yield { text: rest, logprobs: [] };
  return { reason: 'abort', stopReason: null, completionTokens: count };
}
