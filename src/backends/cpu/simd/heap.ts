/**
 * The wasm linear memory of the SIMD backend: one shared WebAssembly.Memory holding the weights (copied in once, at
 * fromFloat32 / fromBytes time), per-sequence state blocks (SSM states, KV rows; free list), the step arena for op
 * outputs, and a reusable scratch region for each call's packed inputs. Shared memory is used because growing it
 * does not detach the Float32Array views that CpuTensors already hold (a plain memory's grow would), and because
 * the helper threads compute on it. Memory is bump-allocated and never shrinks (wasm memories cannot).
 */
import { kernelModule } from './kernels.js';
import { MatmulPool } from './pool.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB: the wasm32 limit; only reserved address space until grown into

export interface Kernels {
  mm4x1(x: number, w: number, y: number, n: number, kb: number, mb: number, m: number): void;
  mmb4x1(x: number, w: number, y: number, n: number, kb: number, mb: number, m: number): void;
  attnScores(q: number, k: number, s: number, T: number, past: number, heads: number, hdb: number, kvwb: number, perKv: number, lsb: number, scale: number): void;
  attnOut(p: number, v: number, o: number, T: number, past: number, heads: number, hdb: number, kvwb: number, perKv: number, lsb: number): void;
  vadd(a: number, b: number, out: number, nb: number): void;
  vrelu2(a: number, b: number, out: number, nb: number): void;
  rmsNorm(x: number, w: number, out: number, rows: number, hb: number, eps: number, invH: number): void;
  scan(x: number, coef: number, B: number, C: number, D: number, S: number, y: number, T: number, heads: number, p: number, nb: number, gb: number, perGroup: number): void;
}

// The project's lib (ES2023 + @types/node 20) has no WebAssembly types: the little used here, typed by hand.
interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** A matmul weight [out, in] in the heap: rows of up4(in) floats (or `in` BF16 values), up4(out) rows. */
export interface WeightRef {
  ptr: number;
  bf16: boolean;
}

let compiled: object | undefined;
// a heap that is garbage-collected stops its helper threads (they hold the memory, not the heap)
const poolCloser = new FinalizationRegistry<MatmulPool>((pool) => pool.close());

export class WasmHeap {
  readonly memory = new WA.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  readonly k: Kernels;
  private top = 64; // bump pointer (bytes); 0 is never handed out
  private scratchPtr = 0;
  private scratchBytes = 0;
  private view: Float32Array;

  constructor() {
    compiled ??= new WA.Module(kernelModule(MAX_PAGES));
    this.k = new WA.Instance(compiled, { env: { mem: this.memory } }).exports as unknown as Kernels;
    this.view = new Float32Array(this.memory.buffer);
    this.buffers.add(this.memory.buffer);
  }

  /** Every buffer object this memory has had (one per growth): views of any of them are views of this heap. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** Byte address of `a` when it is a view of this heap (arena outputs, weights), else -1. */
  addr(a: Float32Array): number {
    return this.buffers.has(a.buffer) ? a.byteOffset : -1;
  }

  /** Helper threads for large matmuls, started on first use (null: one core, or NEMOTRON_CPU_THREADS=1). */
  pool(): MatmulPool | null {
    if (this.poolState === undefined) {
      const helpers = MatmulPool.helpersWanted();
      this.poolState = helpers > 0 ? new MatmulPool(this.memory, compiled as object, helpers) : null;
      if (this.poolState) poolCloser.register(this, this.poolState);
    }
    return this.poolState;
  }
  private poolState: MatmulPool | null | undefined;

  /** A float32 view of the whole memory as it is now (views taken before a grow still work but are shorter). */
  get f32(): Float32Array {
    if (this.view.byteLength !== this.memory.buffer.byteLength) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** Permanently allocates `bytes` (16-byte aligned), growing the memory as needed; returns the byte address. */
  alloc(bytes: number): number {
    const ptr = (this.top + 15) & ~15;
    const end = ptr + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) throw new RangeError(`cpu-simd: weights and activations exceed the 4 GiB wasm memory; use --backend cuda (or cpu-fast, limited only by RAM) for a model this large`);
      this.memory.grow(Math.max(pages, Math.min(have / PAGE, 1024))); // grow geometrically up to 64 MiB steps
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    return ptr;
  }

  /** Copies `data` into fresh heap memory; returns a view of it and its byte address. */
  store(data: Float32Array): { view: Float32Array; ptr: number } {
    const ptr = this.alloc(data.length * 4);
    const view = new Float32Array(this.memory.buffer, ptr, data.length);
    view.set(data);
    return { view, ptr };
  }

  /** Copies raw little-endian BF16 bytes into fresh heap memory; returns the byte address. */
  storeBytes(bytes: Uint8Array): number {
    const ptr = this.alloc(bytes.byteLength);
    new Uint8Array(this.memory.buffer, ptr, bytes.byteLength).set(bytes);
    return ptr;
  }

  /**
   * Output arrays of compute ops. Once forward passes run (beginStep), outputs come from a step arena in this
   * memory that the next beginStep rewinds: fresh large typed arrays cost a page fault per 4 KiB on first touch
   * (measured: a new 256 KiB Float32Array costs ~0.6 ms here, 10x the loop that fills it). Before the first
   * step (ops called directly) they are ordinary arrays.
   */
  out(n: number): Float32Array {
    if (!this.stepping) return new Float32Array(n);
    const ptr = this.arenaAlloc((n * 4 + 15) & ~15); // first: it may grow the memory (and replace .buffer)
    return new Float32Array(this.memory.buffer, ptr, n);
  }
  /** A zeroed float64 temporary, valid until the next beginStep (arena) or garbage collection. */
  temp64(n: number): Float64Array {
    if (!this.stepping) return new Float64Array(n);
    const ptr = this.arenaAlloc(n * 8);
    const a = new Float64Array(this.memory.buffer, ptr, n);
    a.fill(0);
    return a;
  }
  /** Starts a forward pass: everything `out` handed out since the last call may be reused. */
  beginStep(): void {
    this.stepping = true;
    this.chunk = 0;
    this.chunkOff = 0;
  }
  private stepping = false;
  private readonly chunks: Array<{ ptr: number; bytes: number }> = [];
  private chunk = 0;
  private chunkOff = 0;
  private arenaAlloc(bytes: number): number {
    for (;;) {
      const c = this.chunks[this.chunk];
      if (c === undefined) {
        this.chunks.push({ ptr: this.alloc(Math.max(bytes, 8 << 20)), bytes: Math.max(bytes, 8 << 20) });
        continue;
      }
      if (this.chunkOff + bytes <= c.bytes) {
        const p = c.ptr + this.chunkOff;
        this.chunkOff += bytes;
        return p;
      }
      this.chunk++;
      this.chunkOff = 0;
    }
  }

  /**
   * A zeroed float32 array in the heap for per-sequence state (SSM state, KV cache rows) that kernels use in place.
   * Its memory goes back to a free list (by size) on releaseBlock, or when the array is garbage-collected
   * without one, so that sequences that are never freed do not leak wasm memory (which cannot shrink).
   */
  block(n: number): Float32Array {
    const bytes = (n * 4 + 15) & ~15;
    const ptr = this.freeLists.get(bytes)?.pop() ?? this.alloc(bytes); // first: alloc may grow the memory
    const view = new Float32Array(this.memory.buffer, ptr, n);
    view.fill(0);
    const held = { ptr, bytes };
    this.blocks.set(view, held);
    this.finalizer.register(view, held, view);
    return view;
  }
  /** Returns a `block` array's memory to the free list; false when `view` is not one. */
  releaseBlock(view: Float32Array): boolean {
    const held = this.blocks.get(view);
    if (!held) return false;
    this.blocks.delete(view);
    this.finalizer.unregister(view);
    this.freeBlock(held);
    return true;
  }
  private freeBlock(b: { ptr: number; bytes: number }): void {
    let list = this.freeLists.get(b.bytes);
    if (!list) this.freeLists.set(b.bytes, (list = []));
    list.push(b.ptr);
  }
  private readonly blocks = new WeakMap<Float32Array, { ptr: number; bytes: number }>();
  private readonly freeLists = new Map<number, number[]>();
  private readonly finalizer = new FinalizationRegistry<{ ptr: number; bytes: number }>((b) => this.freeBlock(b));

  /** Byte address of a scratch region of at least `bytes`, valid until the next call (contents are garbage). */
  scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      this.scratchBytes = Math.max(bytes, this.scratchBytes * 2);
      this.scratchPtr = this.alloc(this.scratchBytes);
    }
    return this.scratchPtr;
  }

  /** Matmul weights in kernel layout, by the Float32Array the tensor holds (weights are never mutated). */
  readonly weights = new WeakMap<Float32Array, WeightRef>();
}
