/**
 * Device memory bookkeeping, independent of the driver (alloc/free are injected, so the logic is testable
 * without a GPU):
 * - `Pool`: long-lived buffers (weights, states, KV caches) with per-size free lists.
 * - `Arena`: a step's temporaries, bump-allocated from chunks that are kept across steps. `reset()` at the start
 *   of a step makes every earlier temporary invalid (its generation is stale); the same sequence of requests
 *   after a reset gets the same addresses, which is what lets a captured CUDA graph be replayed.
 */

export type AllocFn = (bytes: number) => number;
export type FreeFn = (ptr: number) => void;

const MiB = 1 << 20;

/** Size classes: powers of two up to 1 MiB, then multiples of 2 MiB. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= MiB) return 2 ** Math.ceil(Math.log2(b));
  return Math.ceil(b / (2 * MiB)) * 2 * MiB;
}

export class Pool {
  private readonly free = new Map<number, number[]>();
  private live = 0;
  constructor(private readonly allocFn: AllocFn, private readonly freeFn: FreeFn, private readonly onOom: () => void = () => {}) {}

  alloc(bytes: number): { ptr: number; size: number } {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    if (list && list.length) {
      this.live += size;
      return { ptr: list.pop()!, size };
    }
    let ptr: number;
    try {
      ptr = this.allocFn(size);
    } catch (e) {
      this.trim();
      this.onOom();
      try {
        ptr = this.allocFn(size);
      } catch {
        throw e;
      }
    }
    this.live += size;
    return { ptr, size };
  }

  release(ptr: number, size: number): void {
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ptr);
    this.live -= size;
  }

  /** Returns every cached free buffer to the device. */
  trim(): void {
    for (const list of this.free.values()) for (const p of list) this.freeFn(p);
    this.free.clear();
  }

  get liveBytes(): number {
    return this.live;
  }
}

export interface ArenaMark {
  chunk: number;
  offset: number;
}

export class Arena {
  private readonly chunks: { ptr: number; size: number }[] = [];
  private chunk = 0;
  private offset = 0;
  private peak = 0;
  /** Incremented by reset(); tensors remember the generation they were made in. */
  generation = 0;

  constructor(private readonly allocFn: AllocFn, private readonly freeFn: FreeFn, private readonly minChunk = 256 * MiB) {}

  alloc(bytes: number): number {
    const need = Math.ceil(Math.max(bytes, 1) / 256) * 256;
    for (;;) {
      let c = this.chunks[this.chunk];
      if (!c) {
        c = { ptr: this.allocFn(Math.max(this.minChunk, need)), size: Math.max(this.minChunk, need) };
        this.chunks.push(c);
      }
      if (this.offset + need <= c.size) {
        const p = c.ptr + this.offset;
        this.offset += need;
        this.peak = Math.max(this.peak, this.usedBytes());
        return p;
      }
      this.chunk++;
      this.offset = 0;
    }
  }

  mark(): ArenaMark {
    return { chunk: this.chunk, offset: this.offset };
  }

  /** Frees everything allocated after `m` (stack discipline: an op's scratch after its outputs). */
  release(m: ArenaMark): void {
    this.chunk = m.chunk;
    this.offset = m.offset;
  }

  reset(): void {
    this.chunk = 0;
    this.offset = 0;
    this.generation++;
  }

  usedBytes(): number {
    let used = this.offset;
    for (let i = 0; i < this.chunk; i++) used += this.chunks[i].size;
    return used;
  }

  get reservedBytes(): number {
    return this.chunks.reduce((a, c) => a + c.size, 0);
  }

  get peakBytes(): number {
    return this.peak;
  }

  /** Gives every chunk back (only between steps). */
  destroy(): void {
    for (const c of this.chunks) this.freeFn(c.ptr);
    this.chunks.length = 0;
    this.reset();
  }
}
