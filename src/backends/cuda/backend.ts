/**
 * The CUDA backend: implements every op of src/ops/ops.ts on one NVIDIA GPU. Weights are BF16 on the device when
 * the checkpoint has them (2-D matrices; vectors and other dtypes become float32), activations and Mamba state
 * are float32, accumulation is float32. Kernels are CUDA C in ./kernels compiled at run time by NVRTC; GEMMs with
 * many rows go to cuBLAS. Temporaries live in a step arena recycled by `beginStep()` (called by the model at the
 * start of each forward): read a forward's results before starting the next one.
 */
import type { AttnDims, DecodeSession, KvCache, MambaMixerParams, MambaState, OpName, Ops, RouteDims, RowSampling, Routing, Segment, SsmDims } from '../../ops/ops.js';
import { toFloat32 as bytesToFloat32, type FileDType } from '../../loaders/dtype.js';
import { Blas } from './blas.js';
import { CudaDevice } from './device.js';
import { DecodeGraphs } from './graph.js';
import { Kernels } from './launch.js';
import { OpProfiler } from './profile.js';
import { attention } from './ops/attention.js';
import { ticketBuffer } from './ops/tickets.js';
import { addBias, embed, embedInputs, gatedRmsNorm, gatherRows, launchEmbed, relu2, rmsNorm, splitCols, type EmbedLaunch } from './ops/basic.js';
import { mambaConv, ssmScan } from './ops/mamba.js';
import { mambaMixerStep } from './ops/mamba-step.js';
import { matmul, matmulsOneRow } from './ops/matmul.js';
import { moeBlockFused, moeExperts, moeRoute, routerCounter } from './ops/moe.js';
import { type DeferredNorm, gemv1Norm, launchNorm, normDeferrable, routeNorm } from './ops/fused-norm.js';
import { type DeferredMoeDown, launchMoeDown, moeLayer1 } from './ops/moe-block1.js';
import { SAMPLE_MAX_VOCAB, sampleInto } from './ops/sample.js';
import { CudaKvCache, CudaTensor, DTYPE_BYTES, type CudaCtx, type DType } from './tensor.js';

const ALL: ReadonlySet<OpName> = new Set<OpName>([
  'embed', 'rmsNorm', 'matmul', 'add', 'addBias', 'gatherRows', 'splitCols', 'relu2', 'mambaConv', 'ssmScan', 'gatedRmsNorm',
  'attention', 'moeRoute', 'moeExperts',
]);

export interface CudaBackendOptions {
  /** Device ordinal (default 0). */
  device?: number;
  /**
   * Float32-accurate activations in cuBLAS GEMMs (bf16 hi + lo parts, two passes; default true). false: activations
   * rounded to bf16 as HF runs the model: faster prefill GEMMs, logits further from the float32 reference.
   */
  precise?: boolean;
  /** Tests: fill every new temporary with NaN, so that an element a kernel fails to write shows up. */
  poison?: boolean;
}

export class CudaBackend implements Ops<CudaTensor>, CudaCtx {
  readonly name = 'cuda';
  readonly dev: CudaDevice;
  readonly kernels: Kernels;
  readonly blas: Blas;
  readonly precise: boolean;
  private readonly poison: boolean;
  /** See CudaCtx.tokenFeed (set by DecodeGraphs.decodeGreedy for the duration of a pipelined decode). */
  tokenFeed: { ptr: number; n: number } | null = null;
  /** See CudaCtx.kvAhead (set by DecodeGraphs.decodeGreedy inside a graph of several decode steps). */
  kvAhead = 0;
  /**
   * While set, beginStep keeps the metadata written so far: the steps of one multi-step decode graph each keep their
   * own metadata, uploaded together (DecodeGraphs.decodeGreedy).
   */
  keepMeta = false;
  /** Per-op GPU times (eager steps only) once `enableProfiling()` was called. */
  profiler: OpProfiler | null = null;
  private readonly f32Cache = new WeakMap<CudaTensor, CudaTensor>();
  /**
   * An `add` not launched yet. When the next op is an RMSNorm of its output (the residual stream: h = h + y, then
   * the next layer's norm of h) the two run as one kernel; any other op, read or copy launches it first.
   */
  private pendingAdd: { a: number; b: number; out: CudaTensor } | null = null;
  /**
   * A batch-1 RMSNorm (and the add before it) not launched yet: the GEMV or router that reads its output stages it
   * (ops/fused-norm.ts); any other op, read or copy launches it first.
   */
  private pendingNorm: DeferredNorm | null = null;
  /** The tail of a batch-1 MoE layer not launched yet: the residual add that follows the layer runs inside it. */
  private pendingMoe: DeferredMoeDown | null = null;
  /**
   * An embedding of up to 64 rows not launched yet: when the next op is the RMSNorm of its output (the first layer's
   * norm) one kernel does both (embed_rms_norm_wide); any other op, read or copy launches it first.
   */
  private pendingEmbed: EmbedLaunch | null = null;

  constructor(opts: CudaBackendOptions = {}) {
    this.dev = new CudaDevice(opts.device ?? 0);
    this.kernels = new Kernels(this.dev);
    this.blas = new Blas(this.dev);
    this.precise = opts.precise ?? true;
    this.poison = opts.poison ?? false;
  }

  supports(op: OpName): boolean {
    return ALL.has(op);
  }

  // ---- memory -------------------------------------------------------------------------------------------

  /** A pool (long-lived) tensor. */
  persistent(shape: readonly number[], dtype: DType = 'f32'): CudaTensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = this.dev.pool.alloc(Math.max(1, n * DTYPE_BYTES[dtype]));
    return new CudaTensor([...shape], dtype, a.ptr, shape.length ? shape[shape.length - 1] : 1, -1, { size: a.size });
  }

  alloc(shape: readonly number[], dtype: DType = 'f32'): CudaTensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const ptr = this.dev.arena.alloc(n * DTYPE_BYTES[dtype]);
    if (this.poison) this.dev.fill32(ptr, dtype === 'bf16' ? 0x7fc07fc0 : 0x7fc00000, Math.ceil((n * DTYPE_BYTES[dtype]) / 4));
    return new CudaTensor([...shape], dtype, ptr, shape.length ? shape[shape.length - 1] : 1, this.dev.arena.generation, null);
  }

  withScratch<R>(fn: (scratch: (bytes: number) => number) => R): R {
    const arena = this.dev.arena;
    const m = arena.mark();
    try {
      return fn((bytes) => arena.alloc(bytes));
    } finally {
      arena.release(m);
    }
  }

  live(...ts: (CudaTensor | null | undefined)[]): void {
    for (const t of ts) {
      if (!t) continue;
      if (!(t instanceof CudaTensor)) throw new TypeError('cuda backend: got a tensor of another backend');
      if (t.released) throw new Error('cuda backend: tensor used after release()');
      if (t.gen >= 0 && t.gen !== this.dev.arena.generation) {
        throw new Error('cuda backend: tensor used after the step that made it ended (read results before the next forward)');
      }
    }
  }

  contig(t: CudaTensor): CudaTensor {
    if (t.contiguous) return t;
    if (t.dtype !== 'f32') throw new Error(`cuda backend: strided ${t.dtype} views are not supported`);
    const out = this.alloc(t.shape);
    this.kernels.launch('copy2d_f32', [Math.ceil(t.cols / 256), t.rows], 256, [t.ptr, t.ld, out.ptr, t.cols, t.cols]);
    return out;
  }

  f32(t: CudaTensor): CudaTensor {
    if (t.dtype === 'f32') return this.contig(t);
    let c = this.f32Cache.get(t);
    if (!c) {
      if (t.dtype !== 'bf16' || !t.contiguous) throw new Error(`cuda backend: cannot use a ${t.dtype} tensor as a float32 parameter`);
      c = this.persistent(t.shape);
      this.kernels.launch('bf16_to_f32', this.blocks(t.numel), 256, [t.ptr, c.ptr, t.numel]);
      this.f32Cache.set(t, c);
    }
    return c;
  }

  blocks(n: number, perBlock = 256): number {
    return Math.max(1, Math.min(Math.ceil(n / perBlock), this.dev.info.multiprocessors * 16));
  }

  /** Launches whatever is deferred (pendingEmbed, pendingAdd, pendingNorm, pendingMoe), in that order; a no-op when nothing is. */
  flushPending(): void {
    const e = this.pendingEmbed;
    if (e) {
      this.pendingEmbed = null;
      launchEmbed(this, e);
    }
    const p = this.pendingAdd;
    if (p) {
      this.pendingAdd = null;
      this.kernels.launch('add_f32', this.blocks(p.out.numel), 256, [p.a, p.b, p.out.ptr, p.out.numel]);
    }
    const n = this.pendingNorm;
    if (n) {
      this.pendingNorm = null;
      launchNorm(this, n);
    }
    const m = this.pendingMoe;
    if (m) {
      this.pendingMoe = null;
      launchMoeDown(this, m, 0, m.out.ptr);
    }
  }

  /** Starts a step: temporaries of the previous step become invalid and their memory is reused. */
  beginStep(): void {
    this.flushPending();
    if (this.dev.mode === 'eager' && this.dev.meta.offset > 0) this.dev.sync(); // staging copies done before reuse
    this.dev.arena.reset();
    if (!this.keepMeta) this.dev.meta.reset();
  }

  // ---- tensors ------------------------------------------------------------------------------------------

  fromFloat32(data: Float32Array, shape: readonly number[]): CudaTensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`fromFloat32: shape [${shape}] needs ${n} values, got ${data.length}`);
    const t = this.persistent(shape);
    this.dev.upload(t.ptr, data);
    return t;
  }

  /** BF16 matrices stay BF16 on the device (rows of a multiple of 8 for 16-byte loads); everything else float32. */
  fromBytes(bytes: Uint8Array, dtype: FileDType, shape: readonly number[]): CudaTensor {
    if (dtype === 'BF16' && shape.length === 2 && shape[1] % 8 === 0) {
      const n = shape[0] * shape[1];
      if (bytes.byteLength !== n * 2) throw new Error(`fromBytes: shape [${shape}] needs ${n * 2} bytes, got ${bytes.byteLength}`);
      const t = this.persistent(shape, 'bf16');
      this.dev.upload(t.ptr, bytes);
      return t;
    }
    return this.fromFloat32(bytesToFloat32(bytes, dtype), shape);
  }

  toFloat32(t: CudaTensor): Float32Array {
    this.live(t);
    this.flushPending();
    if (t.dtype === 'bf16') {
      const raw = new Uint16Array(t.rows * t.ld);
      this.dev.download(raw, t.ptr);
      const out = new Float32Array(t.numel);
      const u = new Uint32Array(out.buffer);
      for (let r = 0; r < t.rows; r++) for (let j = 0; j < t.cols; j++) u[r * t.cols + j] = raw[r * t.ld + j] << 16;
      return out;
    }
    const c = this.contig(t);
    if (t.dtype === 'i32') {
      const ids = new Int32Array(t.numel);
      this.dev.download(ids, c.ptr);
      return Float32Array.from(ids);
    }
    const out = new Float32Array(t.numel);
    this.dev.download(out, c.ptr);
    return out;
  }

  zeros(shape: readonly number[]): CudaTensor {
    const t = this.persistent(shape);
    this.dev.fill32(t.ptr, 0, t.numel);
    return t;
  }

  copy(dst: CudaTensor, src: CudaTensor): void {
    this.live(dst, src);
    this.flushPending();
    if (dst.numel !== src.numel || dst.dtype !== src.dtype) throw new Error(`copy: [${src.shape}] ${src.dtype} into [${dst.shape}] ${dst.dtype}`);
    if (!dst.contiguous) throw new Error('copy: destination must be contiguous');
    const s = this.contig(src);
    this.dev.copy(dst.ptr, s.ptr, src.numel * DTYPE_BYTES[src.dtype]);
  }

  newKvCache(dims: AttnDims): KvCache {
    return new CudaKvCache(dims.kvHeads * dims.headDim);
  }

  release(t: CudaTensor | KvCache): void {
    this.flushPending(); // a deferred add may read the memory given back
    if (t instanceof CudaKvCache) {
      if (!t.released && t.capacity) {
        this.dev.pool.release(t.k, t.allocSize);
        this.dev.pool.release(t.v, t.allocSize);
      }
      t.released = true;
      return;
    }
    if (t instanceof CudaTensor && t.owned && !t.released) this.dev.pool.release(t.ptr, t.owned.size);
    if (t instanceof CudaTensor) t.released = true;
  }

  /** A pool tensor of uniform random values in [lo, hi) made on the device (random-weights mode). */
  randomTensor(shape: readonly number[], dtype: 'f32' | 'bf16', lo: number, hi: number, seed: number): CudaTensor {
    const t = this.persistent(shape, dtype);
    this.kernels.launch('rand_fill', this.blocks(t.numel), 256, [t.ptr, dtype === 'bf16' ? 1 : 0, t.numel, seed >>> 0, lo, hi]);
    return t;
  }

  /** Row-wise argmax on the device; returns the indices (greedy sampling without copying logits back). */
  argmaxRows(x: CudaTensor): Int32Array {
    this.live(x);
    this.flushPending();
    const c = this.contig(x);
    const out = this.alloc([x.rows], 'i32');
    this.argmaxLaunch(c, out.ptr);
    const ids = new Int32Array(x.rows);
    this.dev.download(ids, out.ptr);
    return ids;
  }

  /**
   * Row-wise argmax written to the device buffer `out` (i32 [rows]), and to `copy` as well unless it is 0; part of
   * the step (captured in a graph).
   */
  argmaxInto(x: CudaTensor, out: number, copy = 0): void {
    this.live(x);
    this.flushPending();
    this.argmaxLaunch(this.contig(x), out, copy);
  }

  /**
   * One block per row for short rows; for long ones (a vocabulary of logits) many blocks per row, whose parts the
   * last block of the row merges (argmax_rows2), or a second launch does (argmax_final).
   */
  private argmaxLaunch(x: CudaTensor, out: number, copy = 0): void {
    if (x.cols < 8192) {
      this.kernels.launch('argmax_rows', x.rows, 256, [x.ptr, x.cols, out, copy]);
      return;
    }
    const P = Math.min(64, Math.ceil(x.cols / 2048));
    const chunk = Math.ceil(x.cols / P);
    const v = this.alloc([x.rows, P]);
    const i = this.alloc([x.rows, P], 'i32');
    // one launch (a last-block ticket per row) unless NEMOTRON_CUDA_ARGMAX_ONE=0; rows of a decode batch (<= 1024).
    // Measured the same as the two launches (2.229 ms per batch-1 step, s8-fuse.json); kept for the early trigger
    if (x.rows <= 1024 && process.env.NEMOTRON_CUDA_ARGMAX_ONE !== '0') {
      const counter = ticketBuffer(this, 'argmax_rows2', 1024);
      // early trigger (argmax_rows2) unless NEMOTRON_CUDA_ARGMAX_EARLY=0: 2.231-2.232 against 2.233 ms per batch-1
      // step (bench/sweeps/s8-early.json, 8 steps per graph), 2.235 against 2.236 (s8-downnorm.json)
      const early = process.env.NEMOTRON_CUDA_ARGMAX_EARLY === '0' ? 0 : 1;
      this.kernels.launch('argmax_rows2', [P, x.rows], 256, [x.ptr, x.cols, chunk, v.ptr, i.ptr, counter, out, copy, early]);
      return;
    }
    this.kernels.launch('argmax_partial', [P, x.rows], 256, [x.ptr, x.cols, chunk, v.ptr, i.ptr]);
    this.kernels.launch('argmax_final', x.rows, 32, [v.ptr, i.ptr, P, out, copy]);
  }

  /** Draws one token per row of logits on the device (ops/sample.ts) and returns the ids; null for rows too long. */
  sampleRows(x: CudaTensor, rows: readonly RowSampling[]): Int32Array | null {
    this.live(x);
    if (x.cols > SAMPLE_MAX_VOCAB) return null;
    this.flushPending();
    const out = this.alloc([x.rows], 'i32');
    sampleInto(this, x, rows, out.ptr);
    const ids = new Int32Array(x.rows);
    this.dev.download(ids, out.ptr);
    return ids;
  }

  /**
   * The engine's pipelined decode (Ops.decodeSession) as CUDA graphs of several steps each (DecodeGraphs.session:
   * the drawn ids stay on the device, steps queue ahead of the read-back): `nemotron serve` decodes as `nemotron
   * bench` does. null when it does not apply: NEMOTRON_CUDA_ENGINE_GRAPHS=0, another session open, a capture or dry
   * run in progress, or sampled rows longer than the sampling kernel takes.
   */
  decodeSession(
    forward: (ids: Int32Array | null) => CudaTensor, first: Int32Array, steps: number, draw: ((step: number) => readonly RowSampling[]) | null, vocab: number, owner: object,
  ): DecodeSession | null {
    if (process.env.NEMOTRON_CUDA_ENGINE_GRAPHS === '0') return null;
    if (this.dev.mode !== 'eager' || this.tokenFeed || first.length < 1 || first.length > 1024 || !(steps >= 1)) return null;
    if (draw && vocab > SAMPLE_MAX_VOCAB) return null;
    this.decodeGraphs ??= new DecodeGraphs(this);
    let id = this.owners.get(owner);
    if (id === undefined) this.owners.set(owner, (id = this.nextOwner++)); // graphs hold the owner's weight addresses
    return this.decodeGraphs.session(`engine-${id}`, first, steps, () => forward(null), draw);
  }
  private decodeGraphs: DecodeGraphs | null = null;
  private readonly owners = new WeakMap<object, number>();
  private nextOwner = 1;

  /** Draws one token per row into the device buffer `out` (i32 [rows]); part of the step (captured in a graph). */
  sampleIntoDevice(x: CudaTensor, rows: readonly RowSampling[], out: number): void {
    this.live(x);
    this.flushPending();
    sampleInto(this, x, rows, out);
  }

  enableProfiling(): OpProfiler {
    return (this.profiler ??= new OpProfiler(this.dev));
  }

  private t<R>(name: string, fn: () => R): R {
    this.flushPending();
    return this.profiler ? this.profiler.time(name, fn) : fn();
  }

  /** add, deferred: launched with the next op (fused into it when that op is an RMSNorm of the sum). */
  private addDeferred(a: CudaTensor, b: CudaTensor): CudaTensor {
    this.live(a, b);
    if (a.numel !== b.numel) throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
    const ac = this.contig(a);
    const bc = this.contig(b);
    const out = this.alloc(a.shape);
    this.pendingAdd = { a: ac.ptr, b: bc.ptr, out };
    return out;
  }

  /** Defers u = RMSNorm(x) of one row (with the deferred add that makes x, if any) into the op that reads u. */
  private deferNorm(x: CudaTensor, w: CudaTensor, eps: number): CudaTensor {
    this.live(x, w);
    const wf = this.f32(w);
    if (wf.numel !== x.cols) throw new Error(`rmsNorm: weight of ${wf.numel} for rows of ${x.cols}`);
    const p = this.pendingAdd && this.pendingAdd.out === x ? this.pendingAdd : null;
    if (p) this.pendingAdd = null;
    this.flushPending(); // anything else deferred runs first, in program order
    const out = this.alloc(x.shape);
    this.pendingNorm = { a: p ? p.a : x.ptr, b: p ? p.b : 0, h: p ? x.ptr : 0, w: wf.ptr, eps, H: x.cols, out };
    return out;
  }

  /** Runs `fused` with the pending norm if `x` is its output; null when there is none or `fused` declines. */
  private withNorm<R>(x: CudaTensor, name: string, fused: (n: DeferredNorm) => R | null): R | null {
    const n = this.pendingNorm;
    if (!n || n.out !== x) return null;
    this.pendingNorm = null; // taken: launches inside `fused` must not flush it
    const r = this.profiler ? this.profiler.time(name, () => fused(n)) : fused(n);
    if (r === null) this.pendingNorm = n;
    return r;
  }

  /** RMSNorm of x = a + b with the deferred add in the same kernel (x is written too: it is the next residual). */
  private addRmsNorm(x: CudaTensor, w: CudaTensor, eps: number): CudaTensor {
    const p = this.pendingAdd!;
    this.pendingAdd = null;
    this.live(x, w);
    const wf = this.f32(w);
    if (wf.numel !== x.cols) throw new Error(`rmsNorm: weight of ${wf.numel} for rows of ${x.cols}`);
    const out = this.alloc(x.shape);
    if (x.rows <= 64 && x.cols <= 4096) this.kernels.launch('add_rms_norm_wide', x.rows, 1024, [p.a, p.b, x.ptr, wf.ptr, out.ptr, x.cols, eps]);
    else this.kernels.launch('add_rms_norm', x.rows, 256, [p.a, p.b, x.ptr, wf.ptr, out.ptr, x.cols, eps]);
    return out;
  }

  // ---- ops ----------------------------------------------------------------------------------------------

  embed(table: CudaTensor, ids: Int32Array): CudaTensor {
    // deferred, so that the first layer's norm runs in the same launch (unless NEMOTRON_CUDA_FUSE_EMBED=0): 2.224-2.225
    // against 2.229 ms per batch-1 step (bench/sweeps/s8-fuse.json, 8 steps per graph)
    return this.t('embed', () => {
      if (ids.length > 64 || table.cols > 4096 || !table.contiguous || process.env.NEMOTRON_CUDA_FUSE_EMBED === '0') return embed(this, table, ids);
      const e = embedInputs(this, table, ids);
      this.pendingEmbed = e;
      return e.out;
    });
  }
  rmsNorm(x: CudaTensor, w: CudaTensor, eps: number): CudaTensor {
    const e = this.pendingEmbed;
    if (e && e.out === x) {
      this.pendingEmbed = null;
      const fused = () => {
        const wf = this.f32(w);
        if (wf.numel !== x.cols) throw new Error(`rmsNorm: weight of ${wf.numel} for rows of ${x.cols}`);
        const out = this.alloc(x.shape);
        this.kernels.launch('embed_rms_norm_wide', x.rows, 1024, [e.table.ptr, e.table.dtype === 'bf16' ? 1 : 0, e.ids, x.ptr, wf.ptr, out.ptr, x.cols, eps]);
        return out;
      };
      return this.profiler ? this.profiler.time('embed+rmsNorm', fused) : fused();
    }
    if (normDeferrable(x) && (!this.pendingAdd || this.pendingAdd.out === x)) return this.deferNorm(x, w, eps);
    if (this.pendingAdd && this.pendingAdd.out === x && x.contiguous) {
      const fused = () => this.addRmsNorm(x, w, eps);
      return this.profiler ? this.profiler.time('add+rmsNorm', fused) : fused();
    }
    return this.t('rmsNorm', () => rmsNorm(this, x, w, eps));
  }
  matmul(x: CudaTensor, w: CudaTensor): CudaTensor {
    // a deferred norm goes into routers only by default: before a GEMV its own launch measured faster (2.47 vs 2.55
    // ms per step on an H200): it runs while the GEMV's blocks load their first rows. NEMOTRON_CUDA_FUSE_NORM=all
    // stages it in the GEMV too (gemv1_norm_bf16_l12)
    const gemv = process.env.NEMOTRON_CUDA_FUSE_NORM === 'all';
    return (gemv ? this.withNorm(x, 'rmsNorm+matmul (fused)', (n) => gemv1Norm(this, n, w)) : null) ?? this.matmulPlain(x, w);
  }
  matmuls(x: CudaTensor, ws: readonly CudaTensor[]): CudaTensor[] | null {
    if (x.rows !== 1) return null;
    return this.t('matmuls (one launch)', () => matmulsOneRow(this, x, ws));
  }
  private matmulPlain(x: CudaTensor, w: CudaTensor): CudaTensor { return this.t(`matmul ${w.dtype} [${w.shape}]${x.rows > 16 ? ' gemm' : ''}`, () => matmul(this, x, w)); }
  add(a: CudaTensor, b: CudaTensor): CudaTensor {
    const m = this.pendingMoe;
    const other = m?.out === b ? a : m?.out === a ? b : null;
    if (m && other && other.rows === 1 && other.cols === m.out.cols && other.dtype === 'f32' && other.contiguous) {
      // h + moeLayer(...): the residual add inside the layer's last kernel
      this.live(other);
      this.pendingMoe = null;
      this.flushPending();
      const out = this.alloc(other.shape);
      const run = () => launchMoeDown(this, m, other.ptr, out.ptr);
      if (this.profiler) this.profiler.time('moeLayer tail + add (fused)', run);
      else run();
      return out;
    }
    return this.t('add', () => this.addDeferred(a, b));
  }
  addBias(x: CudaTensor, b: CudaTensor): CudaTensor { return this.t('addBias', () => addBias(this, x, b)); }
  gatherRows(x: CudaTensor, rows: Int32Array): CudaTensor {
    // every row in order (a decode step's last tokens): x itself, so a deferred add stays fusable with the final norm
    if (rows.length === x.rows && rows.every((r, i) => r === i)) {
      this.live(x);
      return x;
    }
    return this.t('gatherRows', () => gatherRows(this, x, rows));
  }
  splitCols(x: CudaTensor, widths: readonly number[]): CudaTensor[] { return splitCols(this, x, widths); }
  relu2(x: CudaTensor): CudaTensor { return this.t('relu2', () => relu2(this, x)); }
  mambaConv(xBC: CudaTensor, w: CudaTensor, b: CudaTensor | null, segments: readonly Segment[], states: readonly CudaTensor[]): CudaTensor {
    return this.t('mambaConv', () => mambaConv(this, xBC, w, b, segments, states));
  }
  ssmScan(
    x: CudaTensor, dt: CudaTensor, B: CudaTensor, C: CudaTensor, aLog: CudaTensor, d: CudaTensor, dtBias: CudaTensor,
    dims: SsmDims, segments: readonly Segment[], states: readonly CudaTensor[],
  ): CudaTensor {
    return this.t('ssmScan', () => ssmScan(this, x, dt, B, C, aLog, d, dtBias, dims, segments, states));
  }
  gatedRmsNorm(y: CudaTensor, z: CudaTensor, w: CudaTensor, groupSize: number, eps: number): CudaTensor {
    return this.t('gatedRmsNorm', () => gatedRmsNorm(this, y, z, w, groupSize, eps));
  }
  mambaMixer(proj: CudaTensor, p: MambaMixerParams<CudaTensor>, segments: readonly Segment[], states: readonly MambaState<CudaTensor>[]): CudaTensor | null {
    return this.t('mambaMixer (fused)', () => mambaMixerStep(this, proj, p, segments, states));
  }
  attention(q: CudaTensor, k: CudaTensor, v: CudaTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly KvCache[]): CudaTensor {
    return this.t('attention', () => attention(this, q, k, v, dims, segments, caches as CudaKvCache[]));
  }
  moeRoute(x: CudaTensor, gate: CudaTensor, bias: CudaTensor, dims: RouteDims): Routing<CudaTensor> {
    const fused = this.withNorm(x, 'rmsNorm+moeRoute (fused)', (n) => routeNorm(this, n, gate, bias, dims, routerCounter(this)));
    if (fused) return fused;
    return this.t('moeRoute', () => moeRoute(this, x, gate, bias, dims));
  }
  moeExperts(x: CudaTensor, routing: Routing<CudaTensor>, up: readonly CudaTensor[], down: readonly CudaTensor[]): CudaTensor {
    return this.t('moeExperts', () => moeExperts(this, x, routing, up, down));
  }
  moeLayer(
    x: CudaTensor, gate: CudaTensor, bias: CudaTensor, dims: RouteDims, up: readonly CudaTensor[], down: readonly CudaTensor[], sharedUp: CudaTensor, sharedDown: CudaTensor,
  ): CudaTensor | null {
    if (x.rows !== 1 || process.env.NEMOTRON_CUDA_MOE_LAYER === '0') return null;
    const n = this.pendingNorm && this.pendingNorm.out === x ? this.pendingNorm : null;
    if (n) this.pendingNorm = null;
    this.flushPending();
    const run = () => moeLayer1(this, x, n, gate, bias, dims, up, down, sharedUp, sharedDown);
    const r = this.profiler ? this.profiler.time('moeLayer head (fused)', run) : run();
    if (!r) {
      this.pendingNorm = n;
      return null;
    }
    this.pendingMoe = r;
    return r.out;
  }
  moeBlock(x: CudaTensor, routing: Routing<CudaTensor>, up: readonly CudaTensor[], down: readonly CudaTensor[], sharedUp: CudaTensor, sharedDown: CudaTensor): CudaTensor {
    const fused = this.t('moeBlock (fused)', () => moeBlockFused(this, x, routing, up, down, sharedUp, sharedDown));
    if (fused) return fused;
    const routed = this.moeExperts(x, routing, up, down);
    return this.add(routed, this.matmul(this.relu2(this.matmul(x, sharedUp)), sharedDown));
  }
}
