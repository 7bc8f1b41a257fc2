/**
 * NemotronH (Nemotron 3 Nano) forward pass: math only, written against the `Ops` interface; no fs, FFI or HTTP.
 * Pre-norm blocks h = h + mixer(RMSNorm(h)) with one mixer per layer (Mamba-2, attention, MoE or dense MLP),
 * final RMSNorm, untied lm_head (model-spec 2-6). Several sequences are packed along dim 0 (varlen), each with
 * its own state, so prefill, chunked prefill, decode and batches of mixed lengths are the same call.
 */
import type { KvCache, MambaMixerParams, MambaState, Ops, Segment, SsmDims, Tensor } from '../ops/ops.js';
import type { NemotronHConfig } from './config.js';

/** Weights by canonical name, already on the backend. */
export type WeightMap<T extends Tensor> = Map<string, T>;

/** One sequence's recurrent state: Mamba conv/SSM state per M layer, KV cache per attention layer. */
export interface SequenceState<T extends Tensor> {
  layers: Array<MambaState<T> | KvCache | null>;
  /** Tokens consumed so far. */
  position: number;
}

/** One sequence's slice of a forward call. */
export interface SequenceInput<T extends Tensor> {
  tokens: readonly number[];
  state: SequenceState<T>;
}

export class NemotronH<T extends Tensor> {
  private readonly expertWeights = new Map<number, { up: T[]; down: T[] }>();
  constructor(readonly config: NemotronHConfig, readonly ops: Ops<T>, private readonly w: WeightMap<T>) {}

  private weight(name: string): T {
    const x = this.w.get(name);
    if (!x) throw new Error(`NemotronH: weight "${name}" was not loaded`);
    return x;
  }

  /** Fresh state for a new sequence (zeros; empty KV caches). */
  newState(): SequenceState<T> {
    const c = this.config;
    const layers = c.layers.map((kind) => {
      if (kind === 'mamba') {
        return {
          conv: this.ops.zeros([c.convDim, c.convKernel - 1]),
          ssm: this.ops.zeros([c.mambaNumHeads, c.mambaHeadDim, c.ssmStateSize]),
        } satisfies MambaState<T>;
      }
      if (kind === 'attention') return this.ops.newKvCache(this.attnDims());
      return null;
    });
    return { layers, position: 0 };
  }

  /** Frees a state's backend memory. */
  freeState(s: SequenceState<T>): void {
    for (const l of s.layers) {
      if (!l) continue;
      if ('conv' in l) {
        this.ops.release(l.conv);
        this.ops.release(l.ssm);
      } else this.ops.release(l);
    }
  }

  /**
   * Runs the tokens of every sequence through the model, updating their states. Returns logits [rows, vocab]:
   * one row per sequence (its last token) when `allLogits` is false, else one per input token.
   */
  forward(batch: readonly SequenceInput<T>[], allLogits = false): T {
    const { ops, config: c } = this;
    if (batch.length === 0) throw new Error('forward: empty batch');
    ops.beginStep?.();
    const segments: Segment[] = [];
    const ids: number[] = [];
    for (const s of batch) {
      if (s.tokens.length === 0) throw new Error('forward: a sequence has no tokens');
      segments.push({ start: ids.length, length: s.tokens.length });
      ids.push(...s.tokens);
    }
    let h = ops.embed(this.weight('embeddings.weight'), Int32Array.from(ids)); // [N, H]
    c.layers.forEach((kind, i) => {
      const u = ops.rmsNorm(h, this.weight(`layers.${i}.norm.weight`), c.normEps);
      const states = batch.map((s) => s.state.layers[i]);
      let y: T;
      if (kind === 'mamba') y = this.mamba(i, u, segments, states as MambaState<T>[]);
      else if (kind === 'attention') y = this.attention(i, u, segments, states as KvCache[]);
      else if (kind === 'moe') y = this.moe(i, u);
      else y = this.mlp(u, `layers.${i}.mixer.`);
      h = ops.add(h, y);
    });
    for (const s of batch) s.state.position += s.tokens.length;
    if (!allLogits) h = ops.gatherRows(h, Int32Array.from(segments, (s) => s.start + s.length - 1)); // [B, H]
    const hf = ops.rmsNorm(h, this.weight('norm_f.weight'), c.normEps);
    return ops.matmul(hf, this.weight(c.tieWordEmbeddings ? 'embeddings.weight' : 'lm_head.weight')); // [rows, V]
  }

  private mamba(i: number, u: T, segments: Segment[], states: MambaState<T>[]): T {
    const { ops, config: c } = this;
    const m = `layers.${i}.mixer.`;
    let proj = ops.matmul(u, this.weight(`${m}in_proj.weight`)); // [N, dInner + convDim + heads]
    if (c.mambaProjBias) proj = ops.addBias(proj, this.weight(`${m}in_proj.bias`));
    const dims: SsmDims = { heads: c.mambaNumHeads, headDim: c.mambaHeadDim, stateSize: c.ssmStateSize, groups: c.nGroups, dtMin: c.timeStepLimit[0], dtMax: c.timeStepLimit[1] };
    const convB = c.useConvBias ? this.weight(`${m}conv1d.bias`) : null;
    const params: MambaMixerParams<T> = {
      dims, dInner: c.dInner, convDim: c.convDim, convW: this.convWeight(m), convB, aLog: this.weight(`${m}A_log`), d: this.weight(`${m}D`),
      dtBias: this.weight(`${m}dt_bias`), normW: this.weight(`${m}norm.weight`), normGroupSize: c.dInner / c.nGroups, eps: c.normEps,
    };
    const o = ops.mambaMixer?.(proj, params, segments, states) ?? this.mambaCore(proj, params, segments, states); // [N, dInner]
    let out = ops.matmul(o, this.weight(`${m}out_proj.weight`)); // [N, H]
    if (c.mambaProjBias) out = ops.addBias(out, this.weight(`${m}out_proj.bias`));
    return out;
  }

  /** conv -> scan -> gated norm as separate ops (model-spec 3.3-3.7). */
  private mambaCore(proj: T, p: MambaMixerParams<T>, segments: Segment[], states: MambaState<T>[]): T {
    const { ops } = this;
    const gs = p.dims.groups * p.dims.stateSize;
    const [z, xBC, dt] = ops.splitCols(proj, [p.dInner, p.convDim, p.dims.heads]);
    const conv = ops.mambaConv(xBC, p.convW, p.convB, segments, states.map((s) => s.conv));
    const [x, B, C] = ops.splitCols(conv, [p.dInner, gs, gs]);
    const y = ops.ssmScan(x, dt, B, C, p.aLog, p.d, p.dtBias, p.dims, segments, states.map((s) => s.ssm)); // [N, dInner]
    return ops.gatedRmsNorm(y, z, p.normW, p.normGroupSize, p.eps);
  }

  private convWeight(m: string): T {
    return this.weight(`${m}conv1d.weight`); // [C, K] (the loader drops the middle 1 of [C, 1, K])
  }

  private attnDims() {
    const c = this.config;
    return { heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim };
  }

  private attention(i: number, u: T, segments: Segment[], caches: KvCache[]): T {
    const { ops } = this;
    const m = `layers.${i}.mixer.`;
    const ws = [this.weight(`${m}q_proj.weight`), this.weight(`${m}k_proj.weight`), this.weight(`${m}v_proj.weight`)];
    const [q, k, v] = ops.matmuls?.(u, ws) ?? ws.map((w) => ops.matmul(u, w)); // q [N, heads*hd], k/v [N, kv*hd]
    const a = ops.attention(q, k, v, this.attnDims(), segments, caches);
    return ops.matmul(a, this.weight(`${m}o_proj.weight`));
  }

  private moe(i: number, u: T): T {
    const { ops, config: c } = this;
    const m = `layers.${i}.mixer.`;
    const gate = this.weight(`${m}gate.weight`);
    const bias = this.weight(`${m}gate.e_score_correction_bias`);
    const dims = {
      experts: c.nRoutedExperts, topK: c.numExpertsPerTok, nGroup: c.nGroup, topkGroup: c.topkGroup,
      normTopkProb: c.normTopkProb, scale: c.routedScalingFactor,
    };
    const ex = this.experts(i);
    if (c.nSharedExperts > 0 && ops.moeLayer) {
      const sh = `${m}shared_experts.`;
      const y = ops.moeLayer(u, gate, bias, dims, ex.up, ex.down, this.weight(`${sh}up_proj.weight`), this.weight(`${sh}down_proj.weight`));
      if (y) return y;
    }
    const routing = ops.moeRoute(u, gate, bias, dims);
    if (c.nSharedExperts > 0 && ops.moeBlock) {
      const sh = `${m}shared_experts.`;
      return ops.moeBlock(u, routing, ex.up, ex.down, this.weight(`${sh}up_proj.weight`), this.weight(`${sh}down_proj.weight`));
    }
    const routed = ops.moeExperts(u, routing, ex.up, ex.down);
    return c.nSharedExperts > 0 ? ops.add(routed, this.mlp(u, `${m}shared_experts.`)) : routed; // shared expert is not scaled (P5)
  }

  /** Layer i's expert weight lists, built once: 2 x 128 name lookups per layer per step cost more than a decode step's kernels. */
  private experts(i: number): { up: T[]; down: T[] } {
    const c = this.config;
    const m = `layers.${i}.mixer.`;
    let ex = this.expertWeights.get(i);
    if (!ex) {
      ex = {
        up: Array.from({ length: c.nRoutedExperts }, (_, e) => this.weight(`${m}experts.${e}.up_proj.weight`)),
        down: Array.from({ length: c.nRoutedExperts }, (_, e) => this.weight(`${m}experts.${e}.down_proj.weight`)),
      };
      this.expertWeights.set(i, ex);
    }
    return ex;
  }

  /** Non-gated squared-ReLU MLP: down(relu(up(u))^2). */
  private mlp(u: T, prefix: string): T {
    const { ops } = this;
    return ops.matmul(ops.relu2(ops.matmul(u, this.weight(`${prefix}up_proj.weight`))), this.weight(`${prefix}down_proj.weight`));
  }
}
