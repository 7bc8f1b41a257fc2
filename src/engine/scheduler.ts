/**
 * Continuous-batching policy, plain synchronous logic: which sequences run this step and with how many
 * tokens. Requests join (admission from a bounded waiting queue) and leave (finish, cancel, error) at every
 * step; every decoding sequence gets one token per step, and prompt prefill is chunked into the remaining
 * token budget so long prompts interleave with decode instead of stalling it.
 */

/** What the scheduler needs to know about a sequence. */
export interface Schedulable {
  readonly promptLength: number;
  /** Prompt tokens already run through the model. */
  prefilled: number;
}

export interface SchedulerConfig {
  /** Sequences holding model state at once (running). */
  maxRunning: number;
  /** Requests allowed to wait for a running slot; more are refused (backpressure). */
  maxWaiting: number;
  /** Tokens per forward step (decode tokens + prefill chunk tokens). */
  maxBatchTokens: number;
  /** Largest prefill piece of one sequence in one step. */
  prefillChunk: number;
}

export interface Work<S> {
  seq: S;
  /** Tokens this step: 1 for decode; a prompt slice length for prefill. */
  count: number;
  kind: 'prefill' | 'decode';
}

/** Thrown by `add` when the waiting queue is full. */
export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`the request queue is full (${limit} waiting); retry later`);
    this.name = 'QueueFullError';
  }
}

export class Scheduler<S extends Schedulable> {
  readonly waiting: S[] = [];
  readonly running: S[] = [];

  constructor(readonly config: SchedulerConfig) {
    for (const [k, v] of Object.entries(config)) {
      if (!Number.isInteger(v) || v < (k === 'maxWaiting' ? 0 : 1)) throw new RangeError(`scheduler ${k} must be a positive integer, got ${v}`);
    }
  }

  /** Queues a sequence; throws QueueFullError when the waiting queue is at its limit. */
  add(seq: S): void {
    // free running slots absorb waiting requests at the next step, so they do not count against the limit
    const freeSlots = Math.max(0, this.config.maxRunning - this.running.length);
    if (this.waiting.length >= this.config.maxWaiting + freeSlots) {
      throw new QueueFullError(this.config.maxWaiting);
    }
    this.waiting.push(seq);
  }

  /** Removes a sequence wherever it is (finished, cancelled, failed). Returns whether it was known. */
  remove(seq: S): boolean {
    for (const list of [this.running, this.waiting]) {
      const i = list.indexOf(seq);
      if (i >= 0) {
        list.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** Whether a waiting sequence would be admitted at the next step (a running slot is free). */
  get admissible(): boolean {
    return this.waiting.length > 0 && this.running.length < this.config.maxRunning;
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0;
  }

  /**
   * Plans one step. Newly admitted sequences are returned in `admitted` (the caller allocates their state).
   * Decode first (latency of running streams), then prefill in arrival order within the token budget.
   */
  schedule(): { work: Work<S>[]; admitted: S[] } {
    const admitted: S[] = [];
    while (this.running.length < this.config.maxRunning && this.waiting.length > 0) {
      const s = this.waiting.shift()!;
      this.running.push(s);
      admitted.push(s);
    }
    const work: Work<S>[] = [];
    let budget = this.config.maxBatchTokens;
    for (const seq of this.running) {
      if (budget === 0) break;
      if (seq.prefilled >= seq.promptLength) {
        work.push({ seq, count: 1, kind: 'decode' });
        budget--;
      }
    }
    for (const seq of this.running) {
      if (budget === 0) break;
      const left = seq.promptLength - seq.prefilled;
      if (left > 0) {
        const count = Math.min(left, this.config.prefillChunk, budget);
        work.push({ seq, count, kind: 'prefill' });
        budget -= count;
      }
    }
    return { work, admitted };
  }
}
