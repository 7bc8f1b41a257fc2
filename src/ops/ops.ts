/**
 * THE seam between model math and devices. The NemotronH forward pass (src/models/nemotron-h.ts) is written
 * once against this interface; a backend (cpu reference, later cpu fast and cuda) implements every op and
 * says what it supports. Ops are fused at the granularity of the model's blocks, not scalar ops.
 *
 * Tokens of several sequences are packed along dim 0 ("varlen" batching); ops that mix tokens of one
 * sequence (conv, scan, attention) take the `Segment`s that say where each sequence's tokens are, plus
 * that sequence's state.
 */

/** A backend tensor handle: shape in elements, row-major; data lives where the backend keeps it. */
export interface Tensor {
  readonly shape: readonly number[];
}

/** Tokens [start, start + length) of the packed batch belong to one sequence. */
export interface Segment {
  start: number;
  length: number;
}

/** Mamba-2 sizes and settings an SSM op needs. */
export interface SsmDims {
  heads: number; // mamba_num_heads
  headDim: number; // mamba_head_dim (p)
  stateSize: number; // ssm_state_size (n)
  groups: number; // n_groups; head h uses group floor(h / (heads / groups))
  dtMin: number; // time_step_limit[0]
  dtMax: number; // time_step_limit[1]
}

/** Attention sizes. */
export interface AttnDims {
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** Router settings (model-spec 5). */
export interface RouteDims {
  experts: number;
  topK: number;
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  scale: number; // routed_scaling_factor
}

/** Everything the fused Mamba-2 mixer core needs besides its input (see Ops.mambaMixer). */
export interface MambaMixerParams<T extends Tensor> {
  dims: SsmDims;
  dInner: number; // heads * headDim: z and x widths
  convDim: number; // dInner + 2 * groups * stateSize: the xBC width
  convW: T; // [convDim, K]
  convB: T | null; // [convDim]
  aLog: T; // [heads]
  d: T; // [heads]
  dtBias: T; // [heads]
  normW: T; // [dInner]
  normGroupSize: number; // channels per gated-norm group (dInner / groups)
  eps: number;
}

/** Per-layer, per-sequence recurrent state of a Mamba layer. */
export interface MambaState<T extends Tensor> {
  conv: T; // [convDim, K-1] raw (pre-conv) xBC of the last K-1 tokens, oldest first
  ssm: T; // [heads, headDim, stateSize] float32
}

/** Per-layer, per-sequence KV cache of an attention layer (backend-owned, grows with the sequence). */
export interface KvCache {
  readonly length: number;
}

/** Top-k routing of a batch of tokens. */
export interface Routing<T extends Tensor> {
  experts: T; // [N, topK] expert ids
  weights: T; // [N, topK] final weights (renormalised, scaled)
}

/** One row's sampling settings for a backend that samples on the device (off values as in SamplingParams). */
export interface RowSampling {
  temperature: number; // 0 = greedy
  topK: number; // <= 0: off
  topP: number; // 1: off
  minP: number; // 0: off
  u: number; // the row's uniform number in [0, 1)
}

export type OpName =
  | 'embed' | 'rmsNorm' | 'matmul' | 'add' | 'addBias' | 'gatherRows' | 'splitCols' | 'relu2'
  | 'mambaConv' | 'ssmScan' | 'gatedRmsNorm'
  | 'attention' | 'moeRoute' | 'moeExperts';

/** The operations a backend provides. `T` is its tensor type. */
export interface Ops<T extends Tensor = Tensor> {
  readonly name: string;
  supports(op: OpName): boolean;

  /** Creates a tensor from host float32 data (weights, inputs). */
  fromFloat32(data: Float32Array, shape: readonly number[]): T;
  /**
   * Optional: creates a weight from raw little-endian checkpoint bytes, so that a backend can keep a compact dtype
   * (e.g. BF16 on a GPU). Loaders use it when present; values equal fromFloat32 of the converted bytes up to the
   * backend's storage precision. The CPU reference does not implement it.
   */
  fromBytes?(bytes: Uint8Array, dtype: 'BF16' | 'F16' | 'F32', shape: readonly number[]): T;
  /**
   * Optional: called by the model at the start of each forward pass. A backend may then reuse the memory of the
   * tensors that earlier compute ops returned, so read a forward's results before starting the next one.
   */
  beginStep?(): void;
  /** Copies a tensor back to the host. */
  toFloat32(t: T): Float32Array;
  zeros(shape: readonly number[]): T;
  /** Copies `src` into `dst` (same shape), e.g. to fork a sequence state. */
  copy(dst: T, src: T): void;
  newKvCache(dims: AttnDims): KvCache;
  /** Frees backend memory held by a tensor or cache (no-op on the CPU). */
  release(t: T | KvCache): void;

  /** Row gather: [N] token ids -> [N, H]. Throws on an id outside the table. */
  embed(table: T, ids: Int32Array): T;
  /** y = w * x / sqrt(mean(x^2) + eps) over the last dim. */
  rmsNorm(x: T, w: T, eps: number): T;
  /** x [N, in] times w [out, in] transposed -> [N, out]. */
  matmul(x: T, w: T): T;
  /**
   * Optional: [matmul(x, w) for w of ws] in one call (e.g. attention's q, k, v: one GPU launch at decode). Returns
   * null when it does not apply; the caller then runs the matmuls one by one.
   */
  matmuls?(x: T, ws: readonly T[]): T[] | null;
  /** a + b (same shape). */
  add(a: T, b: T): T;
  /** x [N, D] + b [D] on every row. */
  addBias(x: T, b: T): T;
  /** Rows `rows` of x [N, D] -> [rows.length, D]. */
  gatherRows(x: T, rows: Int32Array): T;
  /** Splits the last dim into consecutive column blocks of the given widths. */
  splitCols(x: T, widths: readonly number[]): T[];
  /** max(x, 0)^2 elementwise. */
  relu2(x: T): T;

  /**
   * Causal depthwise conv over time with bias, then SiLU, per segment; each segment starts from its conv state
   * (the K-1 previous raw inputs) and leaves the last K-1 raw inputs in it. xBC [N, C], w [C, K], b [C].
   */
  mambaConv(xBC: T, w: T, b: T | null, segments: readonly Segment[], states: readonly T[]): T;
  /**
   * Mamba-2 selective scan, exact recurrence (model-spec 3.4-3.5), per segment from its SSM state, which it
   * updates: x [N, heads*p], dt [N, heads] (raw, before dt_bias/softplus), B, C [N, groups*n] -> y [N, heads*p]
   * including the D skip.
   */
  ssmScan(x: T, dt: T, B: T, C: T, aLog: T, d: T, dtBias: T, dims: SsmDims, segments: readonly Segment[], states: readonly T[]): T;
  /** y * silu(z), then RMSNorm per group of `groupSize` channels, times w (model-spec 3.7). */
  gatedRmsNorm(y: T, z: T, w: T, groupSize: number, eps: number): T;

  /**
   * Causal GQA attention without positional encoding; appends each segment's k, v to its cache first.
   * q [N, heads*hd], k/v [N, kvHeads*hd] -> [N, heads*hd].
   */
  attention(q: T, k: T, v: T, dims: AttnDims, segments: readonly Segment[], caches: readonly KvCache[]): T;

  /** Sigmoid router with correction bias for selection only, top-k, renormalise, scale (fp32). */
  moeRoute(x: T, gate: T, bias: T, dims: RouteDims): Routing<T>;
  /** Sum over k of weight_k * down_{e_k}(relu2(up_{e_k}(x))). up[e] [I, H], down[e] [H, I]. */
  moeExperts(x: T, routing: Routing<T>, up: readonly T[], down: readonly T[]): T;
  /**
   * Optional fused form of a MoE block with a shared expert: moeExperts(x, routing, up, down) +
   * matmul(relu2(matmul(x, sharedUp)), sharedDown), same values up to float32 summation order. A backend
   * provides it when one call beats the composition (e.g. two GPU kernels at decode); the model falls back to
   * the composition otherwise.
   */
  moeBlock?(x: T, routing: Routing<T>, up: readonly T[], down: readonly T[], sharedUp: T, sharedDown: T): T;
  /**
   * Optional fused MoE layer with a shared expert: moeRoute(x, gate, bias, dims) then moeBlock(x, routing, up, down,
   * sharedUp, sharedDown), same values up to float32 summation order. Returns null when it does not apply (e.g. a
   * backend fuses only one-token steps); the model then routes and runs the experts as separate ops.
   */
  moeLayer?(x: T, gate: T, bias: T, dims: RouteDims, up: readonly T[], down: readonly T[], sharedUp: T, sharedDown: T): T | null;
  /**
   * Optional fused Mamba-2 mixer core: given the in_proj output proj [N, dInner + convDim + heads] (z | xBC | dt),
   * returns gatedRmsNorm(ssmScan(split(mambaConv(xBC))), z) [N, dInner] with the same state updates as the
   * composition, same values up to float32 rounding. Returns null when it does not apply (e.g. a backend fuses only
   * decode steps); the model then runs the composition.
   */
  mambaMixer?(proj: T, p: MambaMixerParams<T>, segments: readonly Segment[], states: readonly MambaState<T>[]): T | null;
  /**
   * Optional: draws one token per row of logits [rows, V] on the device (temperature -> top-k -> top-p -> min-p,
   * then the inverse CDF at u over the kept tokens in id order), so the logits never travel to the host. Returns
   * null when the backend cannot draw rows of this length (the caller then samples on the host).
   */
  sampleRows?(logits: T, rows: readonly RowSampling[]): Int32Array | null;
  /**
   * Optional: a pipelined decode of up to `steps` steps of one decode batch [B rows] on the device. Each step's
   * tokens are drawn there (`draw(step)`: the rows' settings of that step, called once per step in order; null: every
   * row greedy) and fed to the next step without the host, with steps queued ahead of the ones returned.
   * `forward(ids)` runs one decode step of the batch with these input ids (null: placeholders, the backend feeds the
   * ids itself) and returns its logits [B, vocab]. Returns null when the backend cannot (the caller steps itself).
   * Until the session ends, nothing else may run on the backend, and the batch's states may be written by queued
   * steps: a caller that drops a row keeps its state until `end()`. `owner` stands for the model (its weights and
   * step shape): a backend may reuse what it built for an earlier session of the same owner and batch size (on CUDA,
   * the captured graphs, which hold the weights' addresses).
   */
  decodeSession?(
    forward: (ids: Int32Array | null) => T, first: Int32Array, steps: number, draw: ((step: number) => readonly RowSampling[]) | null, vocab: number, owner: object,
  ): DecodeSession | null;
}

/** A pipelined decode in progress (Ops.decodeSession). */
export interface DecodeSession {
  /**
   * Queues steps as the pipeline allows and returns the next unit of steps' ids ([u][B], u >= 1), waiting for it;
   * an empty array once every step was returned (or after `end`).
   */
  next(): Int32Array[];
  /**
   * Queues nothing more, waits for the queued steps and returns their ids ([steps][B]: the states have advanced by
   * them). Idempotent.
   */
  end(): Int32Array[];
}
