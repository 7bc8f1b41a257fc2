/**
 * The inference engine: owns the model, a scheduler (policy) and the live sequence states (memory), and
 * runs one batched forward step at a time: schedule -> forward -> sample -> emit. Requests stream their
 * tokens through an async iterator and are cancelled by `cancel()` or an AbortSignal; a sequence's state is
 * freed as soon as it finishes, fails or is cancelled.
 */
import type { DecodeSession, RowSampling, Tensor } from '../ops/ops.js';
import type { NemotronH, SequenceState } from '../models/nemotron-h.js';
import type { GenerationDefaults } from '../loaders/load-model.js';
import { Channel } from './channel.js';
import type { FinishReason } from './generate.js';
import { Sampler, type SamplingParams, validateSampling } from './sampling.js';
import { QueueFullError, Scheduler, type SchedulerConfig } from './scheduler.js';

/** Changes logits in place before sampling (constrained decoding, reasoning budgets, tool_choice). */
export type LogitsProcessor = (generated: readonly number[], logits: Float32Array) => void;

export interface EngineRequest {
  prompt: readonly number[];
  maxTokens: number;
  sampling?: SamplingParams;
  /** Defaults to generation_config's eos ids. */
  stopTokenIds?: readonly number[];
  /** Also return the log-probability of the chosen token and of this many top tokens (0-20). */
  logprobs?: number;
  logitsProcessors?: readonly LogitsProcessor[];
  signal?: AbortSignal;
}

export interface TokenEvent {
  token: number;
  index: number;
  logprob?: number;
  topLogprobs?: Array<{ token: number; logprob: number }>;
  finishReason?: FinishReason;
}

/** A submitted request: iterate it for tokens; `cancel()` stops it and frees its state. */
export interface RequestHandle extends AsyncIterable<TokenEvent> {
  readonly id: number;
  readonly promptTokens: number;
  cancel(): void;
}

/** Refusals with a machine-readable code (the server maps them to HTTP statuses). */
export class EngineError extends Error {
  constructor(readonly code: 'queue_full' | 'context_overflow' | 'invalid_request' | 'shutdown' | 'internal', message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface EngineOptions extends Partial<SchedulerConfig> {
  /** Prompt + max tokens must fit (default: the config's max_position_embeddings). */
  maxModelLen?: number;
}

export interface EngineStats {
  running: number;
  waiting: number;
  /** Sequences currently holding model state (must be 0 when idle: no leaks). */
  liveStates: number;
  /** Bytes of Mamba conv/SSM state and KV cache held (float32). */
  stateBytes: number;
  steps: number;
  promptTokens: number;
  generatedTokens: number;
}

class Sequence<T extends Tensor> {
  prefilled = 0;
  readonly output: number[] = [];
  state: SequenceState<T> | null = null;
  done = false;
  readonly channel = new Channel<TokenEvent>();
  constructor(readonly id: number, readonly req: EngineRequest, readonly sampler: Sampler, readonly stop: Set<number>) {}
  get promptLength(): number {
    return this.req.prompt.length;
  }
}

export class Engine<T extends Tensor = Tensor> {
  private readonly scheduler: Scheduler<Sequence<T>>;
  private readonly live = new Set<Sequence<T>>();
  private nextId = 1;
  private loopScheduled = false;
  private closed = false;
  readonly maxModelLen: number;
  private readonly counters = { steps: 0, promptTokens: 0, generatedTokens: 0 };
  /** The pipelined decode in progress (Ops.decodeSession) and its rows, in batch order. */
  private session: { seqs: Sequence<T>[]; s: DecodeSession } | null = null;
  /** States of rows that finished inside a session: queued steps may still write them, so they are freed at its end. */
  private parked: SequenceState<T>[] = [];

  constructor(readonly lm: { model: NemotronH<T>; generation: GenerationDefaults }, opts: EngineOptions = {}) {
    this.scheduler = new Scheduler<Sequence<T>>({
      maxRunning: opts.maxRunning ?? 16,
      maxWaiting: opts.maxWaiting ?? 256,
      maxBatchTokens: opts.maxBatchTokens ?? 512,
      prefillChunk: opts.prefillChunk ?? 256,
    });
    this.maxModelLen = opts.maxModelLen ?? lm.model.config.maxPositionEmbeddings;
  }

  /** Validates and queues a request. Throws EngineError (invalid_request, context_overflow, queue_full, shutdown). */
  submit(req: EngineRequest): RequestHandle {
    if (this.closed) throw new EngineError('shutdown', 'the engine is shutting down');
    const vocab = this.lm.model.config.vocabSize;
    if (req.prompt.length === 0) throw new EngineError('invalid_request', 'the prompt is empty');
    const bad = req.prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
    if (bad !== undefined) throw new EngineError('invalid_request', `prompt token ${bad} is outside the vocabulary [0, ${vocab})`);
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) throw new EngineError('invalid_request', 'max_tokens must be an integer >= 1');
    if (req.prompt.length + req.maxTokens > this.maxModelLen) {
      throw new EngineError('context_overflow', `this model's maximum context length is ${this.maxModelLen} tokens; the request has ${req.prompt.length} prompt tokens and asks for ${req.maxTokens} more`);
    }
    if (req.logprobs !== undefined && (!Number.isInteger(req.logprobs) || req.logprobs < 0 || req.logprobs > 20)) {
      throw new EngineError('invalid_request', 'logprobs must be an integer in [0, 20]');
    }
    try {
      validateSampling(req.sampling ?? {});
    } catch (e) {
      throw new EngineError('invalid_request', (e as Error).message);
    }
    const seq = new Sequence<T>(this.nextId++, req, new Sampler(req.sampling ?? {}, req.prompt), new Set(req.stopTokenIds ?? this.lm.generation.eosTokenIds));
    try {
      this.scheduler.add(seq);
    } catch (e) {
      if (e instanceof QueueFullError) throw new EngineError('queue_full', e.message);
      throw e;
    }
    const cancel = () => this.finish(seq, 'abort');
    if (req.signal) {
      if (req.signal.aborted) cancel();
      else req.signal.addEventListener('abort', cancel, { once: true });
    }
    this.kick();
    return {
      id: seq.id,
      promptTokens: req.prompt.length,
      cancel,
      [Symbol.asyncIterator]: () => seq.channel[Symbol.asyncIterator](),
    };
  }

  get stats(): EngineStats {
    const c = this.lm.model.config;
    let stateBytes = 0;
    for (const s of this.live) {
      if (!s.state) continue;
      for (const l of s.state.layers) {
        if (!l) continue;
        if ('conv' in l) stateBytes += 4 * (c.convDim * (c.convKernel - 1) + c.mambaNumHeads * c.mambaHeadDim * c.ssmStateSize);
        else stateBytes += 4 * 2 * l.length * c.numKeyValueHeads * c.headDim;
      }
    }
    return { running: this.scheduler.running.length, waiting: this.scheduler.waiting.length, liveStates: this.live.size, stateBytes, ...this.counters };
  }

  /** Refuses new requests, cancels the queued and running ones. */
  shutdown(): void {
    this.closed = true;
    for (const s of [...this.scheduler.running, ...this.scheduler.waiting]) this.finish(s, 'abort');
  }

  private kick(): void {
    if (this.loopScheduled) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      if (this.scheduler.idle) return;
      this.step();
      this.kick();
    });
  }

  /** One batched forward step (or one unit of a pipelined decode session). */
  private step(): void {
    if (this.session) {
      this.sessionStep();
      return;
    }
    const { model } = this.lm;
    const { work, admitted } = this.scheduler.schedule();
    for (const s of admitted) {
      s.state = model.newState();
      this.live.add(s);
    }
    if (work.length === 0) return;
    const batch = work.map((w) => ({
      tokens: w.kind === 'decode' ? [w.seq.output[w.seq.output.length - 1]] : w.seq.req.prompt.slice(w.seq.prefilled, w.seq.prefilled + w.count),
      state: w.seq.state!,
    }));
    // rows whose next token is drawn in this step (a prefill chunk that leaves prompt to go draws nothing)
    const emits = work.map((w) => !w.seq.done && (w.kind === 'decode' || w.seq.prefilled + w.count >= w.seq.promptLength));
    if (this.startSession(work, emits)) return;
    let logits: Float32Array | null = null;
    let drawn: Int32Array | null = null;
    try {
      const out = model.forward(batch);
      if (emits.some(Boolean)) {
        drawn = this.deviceSample(out, work, emits);
        if (!drawn) logits = model.ops.toFloat32(out);
      }
    } catch (e) {
      const err = new EngineError('internal', `forward step failed: ${(e as Error).message}`);
      for (const w of work) this.finish(w.seq, 'abort', err);
      return;
    }
    this.counters.steps++;
    const V = model.config.vocabSize;
    work.forEach((w, row) => {
      const seq = w.seq;
      if (seq.done) return;
      if (w.kind === 'prefill') {
        seq.prefilled += w.count;
        this.counters.promptTokens += w.count;
        if (seq.prefilled < seq.promptLength) return; // more prompt to go: these logits are not used
      }
      try {
        if (drawn) {
          seq.sampler.accept(drawn[row]);
          this.push(seq, drawn[row], null);
        } else this.emit(seq, logits!.slice(row * V, (row + 1) * V));
      } catch (e) {
        this.finish(seq, 'abort', new EngineError('internal', `sampling failed: ${(e as Error).message}`));
      }
    });
  }

  /**
   * Starts a pipelined decode (Ops.decodeSession) when the step is decode only, every row draws on the device and
   * has two or more tokens to go, and no waiting request could be admitted: the backend then runs several steps per
   * launch and feeds the drawn tokens to the next step itself (on CUDA: the graphs `nemotron bench` times). Returns
   * whether it took the step (its first unit of tokens is pushed).
   */
  private startSession(work: readonly { kind: string; seq: Sequence<T> }[], emits: readonly boolean[]): boolean {
    const { model } = this.lm;
    if (!model.ops.decodeSession || work.length === 0 || this.scheduler.admissible) return false;
    for (let i = 0; i < work.length; i++) {
      const { kind, seq } = work[i];
      if (kind !== 'decode' || !emits[i] || seq.req.logitsProcessors?.length || seq.req.logprobs !== undefined || !seq.sampler.devicePossible) return false;
    }
    const seqs = work.map((w) => w.seq);
    const steps = Math.min(...seqs.map((q) => q.req.maxTokens - q.output.length)); // no row decodes past its budget
    if (steps < 2) return false;
    const greedy = seqs.every((q) => (q.sampler.params.temperature ?? 1) === 0);
    const draw = greedy ? null : () => seqs.map((q) => q.sampler.deviceDraw()!);
    const states = seqs.map((q) => q.state!); // a row that finishes keeps its state (parked) while steps are queued
    const forward = (ids: Int32Array | null) => model.forward(states.map((state, r) => ({ tokens: [ids ? ids[r] : 0], state })));
    const first = Int32Array.from(seqs, (q) => q.output[q.output.length - 1]);
    let s: DecodeSession | null;
    try {
      s = model.ops.decodeSession(forward, first, steps, draw, model.config.vocabSize, model);
    } catch (e) {
      this.fail(seqs, e);
      return true;
    }
    if (!s) return false;
    this.session = { seqs, s };
    this.sessionStep();
    return true;
  }

  /**
   * The session's next unit of tokens to its rows. It ends (the queued steps drained, their tokens to the rows
   * still running) once a row has finished, a waiting request could be admitted or the engine shuts down, or after
   * its last step.
   */
  private sessionStep(): void {
    const cur = this.session!;
    let ids: Int32Array[] = [];
    let over = cur.seqs.some((q) => q.done) || this.scheduler.admissible || this.closed;
    try {
      if (!over) {
        ids = cur.s.next();
        over = ids.length === 0;
      }
      if (over) ids = ids.concat(cur.s.end());
    } catch (e) {
      this.endSession();
      this.fail(cur.seqs, e);
      return;
    }
    if (over) this.endSession();
    this.counters.steps += ids.length;
    for (const row of ids) {
      cur.seqs.forEach((q, r) => {
        if (q.done) return; // a row that stopped: the steps queued after its stop are dropped
        q.sampler.accept(row[r]);
        this.push(q, row[r], null);
      });
    }
  }

  /**
   * Ends the session (waits for its queued steps) and frees the states of the rows that finished inside it. Never
   * throws: it runs inside cancel() and finish(); a failure of the queued steps leaves only rows that have finished
   * (a failing next() is reported by sessionStep).
   */
  private endSession(): void {
    const cur = this.session;
    if (!cur) return;
    this.session = null;
    try {
      cur.s.end();
    } catch {
      // the rows still running get the error from sessionStep's next() or from their next forward step
    } finally {
      for (const st of this.parked.splice(0)) this.lm.model.freeState(st);
    }
  }

  private fail(seqs: readonly Sequence<T>[], e: unknown): void {
    const err = new EngineError('internal', `forward step failed: ${(e as Error).message}`);
    for (const q of seqs) this.finish(q, 'abort', err);
  }

  /**
   * Draws the step's tokens on the device when the backend can (Ops.sampleRows) and no emitting row needs the
   * logits on the host (logits processors, logprobs, penalties); returns null otherwise. Rows that draw nothing
   * get a greedy placeholder setting and their result is ignored. When the backend declines the rows after the
   * uniforms were taken, the host draws with the next ones: still reproducible for a seed, as the choice depends
   * only on the model and the backend.
   */
  private deviceSample(out: T, work: readonly { seq: Sequence<T> }[], emits: readonly boolean[]): Int32Array | null {
    const ops = this.lm.model.ops;
    if (!ops.sampleRows) return null;
    for (let i = 0; i < work.length; i++) {
      const r = work[i].seq.req;
      if (emits[i] && (r.logitsProcessors?.length || r.logprobs !== undefined || !work[i].seq.sampler.devicePossible)) return null;
    }
    const rows: RowSampling[] = work.map((w, i) => (emits[i] ? w.seq.sampler.deviceDraw()! : { temperature: 0, topK: 0, topP: 1, minP: 0, u: 0 }));
    return ops.sampleRows(out, rows);
  }

  private emit(seq: Sequence<T>, logits: Float32Array): void {
    for (const p of seq.req.logitsProcessors ?? []) p(seq.output, logits);
    this.push(seq, seq.sampler.sample(logits), logits);
  }

  /** Appends a drawn token and streams it (with logprobs from `logits` when asked). */
  private push(seq: Sequence<T>, token: number, logits: Float32Array | null): void {
    seq.output.push(token);
    this.counters.generatedTokens++;
    const event: TokenEvent = { token, index: seq.output.length - 1 };
    if (seq.req.logprobs !== undefined && logits) Object.assign(event, logprobsOf(logits, token, seq.req.logprobs));
    const finishReason: FinishReason | undefined = seq.stop.has(token) ? 'stop' : seq.output.length >= seq.req.maxTokens ? 'length' : undefined;
    if (finishReason) event.finishReason = finishReason;
    seq.channel.push(event);
    if (finishReason) this.finish(seq, finishReason);
  }

  private finish(seq: Sequence<T>, _reason: FinishReason, error?: unknown): void {
    if (seq.done) return;
    seq.done = true;
    this.scheduler.remove(seq);
    if (seq.state) {
      if (this.session?.seqs.includes(seq)) this.parked.push(seq.state); // queued steps may still write it
      else this.lm.model.freeState(seq.state);
      seq.state = null;
    }
    this.live.delete(seq);
    seq.channel.close(error);
    // nothing left to decode in the session (all rows cancelled or stopped): drain it now, the loop may not run again
    if (this.session && this.session.seqs.every((q) => q.done)) this.endSession();
  }
}

/** log-softmax of the (processed) logits: the chosen token's value and the top-n. */
function logprobsOf(logits: Float32Array, token: number, topN: number): Pick<TokenEvent, 'logprob' | 'topLogprobs'> {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out: Pick<TokenEvent, 'logprob' | 'topLogprobs'> = { logprob: logits[token] - lse };
  if (topN > 0) {
    const top: number[] = [];
    for (let i = 0; i < logits.length; i++) {
      if (top.length < topN || logits[i] > logits[top[top.length - 1]]) {
        top.push(i);
        top.sort((a, b) => logits[b] - logits[a] || a - b);
        if (top.length > topN) top.pop();
      }
    }
    out.topLogprobs = top.map((t) => ({ token: t, logprob: logits[t] - lse }));
  }
  return out;
}
