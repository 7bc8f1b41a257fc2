/**
 * NemotronHConfig from GGUF metadata (model-spec 7.4): architectures `nemotron_h_moe` and `nemotron_h`
 * (dense). Every size comes from a metadata key or from which tensors the file holds; a missing key is an
 * error naming it. Layer typing per layer i from the arrays, as llama.cpp does: head_count_kv[i] == 0 and
 * feed_forward_length[i] == 0 -> Mamba; feed_forward_length[i] == 0 (kv > 0) -> attention; otherwise MoE when
 * the layer has a router (`blk.i.ffn_gate_inp.weight`), else the dense squared-ReLU MLP.
 * Not stored in GGUF and taken as the real model's values: chunk_size 128 (the chunked scan is an exact
 * rewrite of the recurrence, so it only changes rounding) and time_step_limit (0, inf) (no clamp, model-spec 3.4).
 */
import { ConfigError, type LayerKind, type NemotronHConfig, withDerivedSizes } from '../models/config.js';
import type { GenerationDefaults } from './load-model.js';
import { GGUF_VALUE, type GgufFile, type GgufValue } from './gguf.js';

export const GGUF_ARCHITECTURES = ['nemotron_h_moe', 'nemotron_h'] as const;

/** Typed access to a GGUF file's metadata, errors naming the file and the key. */
export class GgufMeta {
  constructor(readonly file: GgufFile) {}

  fail(key: string, why: string): never {
    throw new ConfigError(`${this.file.path}: metadata key "${key}" ${why}`);
  }
  has(key: string): boolean {
    return this.file.metadata.has(key);
  }
  get(key: string): GgufValue {
    const e = this.file.metadata.get(key);
    if (!e) return this.fail(key, 'is missing');
    return e.value;
  }
  int(key: string, min = 1): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(key, `must be an integer >= ${min}, got ${String(v)}`);
    return v as number;
  }
  /**
   * A number. F32 values are returned as the shortest decimal that rounds to the same float32: the converter
   * wrote a config.json decimal (norm_eps 1e-5) as f32, and the engine computes in float64 where
   * 9.99999974e-6 != 1e-5.
   */
  num(key: string): number {
    const v = this.get(key);
    if (typeof v !== 'number' || Number.isNaN(v)) this.fail(key, `must be a number, got ${String(v)}`);
    return this.file.metadata.get(key)!.type === GGUF_VALUE.F32 ? shortestF32(v as number) : (v as number);
  }
  bool(key: string): boolean {
    const v = this.get(key);
    if (typeof v !== 'boolean') this.fail(key, `must be a bool, got ${String(v)}`);
    return v as boolean;
  }
  str(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${String(v)}`);
    return v as string;
  }
  /** A per-layer integer array of length n (a scalar is the same value for every layer). */
  perLayer(key: string, n: number): number[] {
    const v = this.get(key);
    const arr = Array.isArray(v) ? v : [...Array<GgufValue>(n)].map(() => v);
    if (arr.length !== n) this.fail(key, `has ${arr.length} entries but block_count is ${n}`);
    return arr.map((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) this.fail(key, `entry ${i} must be an integer >= 0, got ${String(x)}`);
      return x as number;
    });
  }
  optionalId(key: string): number | null {
    const v = this.file.metadata.get(key)?.value;
    return typeof v === 'number' && Number.isInteger(v) ? v : null;
  }
}

/** The architecture string, checked. */
export function ggufArchitecture(meta: GgufMeta): (typeof GGUF_ARCHITECTURES)[number] {
  const arch = meta.str('general.architecture');
  if (!(GGUF_ARCHITECTURES as readonly string[]).includes(arch)) {
    meta.fail('general.architecture', `is "${arch}"; supported: ${GGUF_ARCHITECTURES.join(', ')}`);
  }
  return arch as (typeof GGUF_ARCHITECTURES)[number];
}

/** Builds the config of a NemotronH GGUF file from its metadata and tensor list. */
export function configFromGguf(file: GgufFile): NemotronHConfig {
  const meta = new GgufMeta(file);
  const a = ggufArchitecture(meta);
  const k = (s: string) => `${a}.${s}`;
  const hasTensor = (n: string) => file.tensors.has(n);

  const nLayers = meta.int(k('block_count'));
  const kv = meta.perLayer(k('attention.head_count_kv'), nLayers);
  const ff = meta.perLayer(k('feed_forward_length'), nLayers);
  const layers: LayerKind[] = kv.map((h, i) =>
    ff[i] === 0 ? (h === 0 ? 'mamba' : 'attention') : a === 'nemotron_h_moe' && hasTensor(`blk.${i}.ffn_gate_inp.weight`) ? 'moe' : 'mlp',
  );
  const has = (kind: LayerKind) => layers.includes(kind);
  const first = (kind: LayerKind) => layers.indexOf(kind);
  /** One value shared by every layer of a kind (the engine has one size per kind). */
  const uniform = (key: string, values: number[], kind: LayerKind): number => {
    const vs = [...new Set(values.filter((_, i) => layers[i] === kind))];
    if (vs.length > 1) meta.fail(k(key), `differs between ${kind} layers (${vs.join(', ')}); the engine needs one value`);
    return vs[0] ?? 0;
  };

  const hiddenSize = meta.int(k('embedding_length'));
  const tokens = file.metadata.get('tokenizer.ggml.tokens')?.value;
  const vocabSize = meta.has(k('vocab_size')) ? meta.int(k('vocab_size')) : Array.isArray(tokens) ? tokens.length : meta.int(k('vocab_size'));
  const normEps = meta.num(k('attention.layer_norm_rms_epsilon'));
  if (!(normEps > 0)) meta.fail(k('attention.layer_norm_rms_epsilon'), 'must be > 0');

  const M = has('mamba');
  const mambaNumHeads = M ? meta.int(k('ssm.time_step_rank')) : 0;
  const dInnerKey = M ? meta.int(k('ssm.inner_size')) : 0;
  if (M && dInnerKey % mambaNumHeads !== 0) meta.fail(k('ssm.inner_size'), `(${dInnerKey}) is not a multiple of ssm.time_step_rank (${mambaNumHeads})`);
  const mambaHeadDim = M ? dInnerKey / mambaNumHeads : 0;
  const ssmStateSize = M ? meta.int(k('ssm.state_size')) : 0;
  const nGroups = M ? meta.int(k('ssm.group_count')) : 1;
  const convKernel = M ? meta.int(k('ssm.conv_kernel')) : 1;
  if (M && mambaNumHeads % nGroups !== 0) meta.fail(k('ssm.group_count'), `(${nGroups}) must divide ssm.time_step_rank (${mambaNumHeads})`);

  const A = has('attention');
  const numAttentionHeads = A ? meta.int(k('attention.head_count')) : 0;
  const numKeyValueHeads = A ? uniform('attention.head_count_kv', kv, 'attention') : 0;
  const headDim = A ? meta.int(k('attention.key_length')) : 0;
  if (A && meta.has(k('attention.value_length')) && meta.int(k('attention.value_length')) !== headDim) {
    meta.fail(k('attention.value_length'), `differs from key_length (${headDim})`);
  }
  if (A && numAttentionHeads % numKeyValueHeads !== 0) {
    meta.fail(k('attention.head_count_kv'), `(${numKeyValueHeads}) must divide attention.head_count (${numAttentionHeads})`);
  }

  const E = has('moe');
  const nRoutedExperts = E ? meta.int(k('expert_count')) : 0;
  const numExpertsPerTok = E ? meta.int(k('expert_used_count')) : 0;
  if (E && numExpertsPerTok > nRoutedExperts) meta.fail(k('expert_used_count'), `(${numExpertsPerTok}) exceeds expert_count (${nRoutedExperts})`);
  const nSharedExperts = E ? meta.int(k('expert_shared_count'), 0) : 0;
  if (nSharedExperts > 1) meta.fail(k('expert_shared_count'), `is ${nSharedExperts}; the shared expert is a single MLP (0 or 1)`);
  // older converters do not write the group keys; ungrouped routing (1 / 1) is the real model's
  const nGroup = E && meta.has(k('expert_group_count')) ? meta.int(k('expert_group_count')) : 1;
  const topkGroup = E && meta.has(k('expert_group_used_count')) ? meta.int(k('expert_group_used_count')) : 1;
  if (E && (nRoutedExperts % nGroup !== 0 || topkGroup > nGroup)) {
    meta.fail(k('expert_group_count'), `(${nGroup}) must divide expert_count and be >= expert_group_used_count (${topkGroup})`);
  }

  const eos = meta.optionalId('tokenizer.ggml.eos_token_id');
  return withDerivedSizes({
    modelType: 'nemotron_h',
    vocabSize,
    hiddenSize,
    layers,
    normEps,
    tieWordEmbeddings: !hasTensor('output.weight'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    mambaNumHeads,
    mambaHeadDim,
    ssmStateSize,
    nGroups,
    convKernel,
    chunkSize: 128,
    useConvBias: M && hasTensor(`blk.${first('mamba')}.ssm_conv1d.bias`),
    mambaProjBias: M && hasTensor(`blk.${first('mamba')}.ssm_in.bias`),
    timeStepLimit: [0, Infinity],
    nRoutedExperts,
    numExpertsPerTok,
    moeIntermediateSize: E ? meta.int(k('expert_feed_forward_length')) : 0,
    moeSharedIntermediateSize: E && nSharedExperts > 0 ? meta.int(k('expert_shared_feed_forward_length')) : 0,
    nSharedExperts,
    intermediateSize: has('mlp') ? uniform('feed_forward_length', ff, 'mlp') : 0,
    routedScalingFactor: E ? meta.num(k('expert_weights_scale')) : 1,
    normTopkProb: E ? meta.bool(k('expert_weights_norm')) : true,
    nGroup,
    topkGroup,
    mlpBias: false,
    bosTokenId: meta.optionalId('tokenizer.ggml.bos_token_id'),
    eosTokenIds: eos === null ? [] : [eos],
    padTokenId: meta.optionalId('tokenizer.ggml.padding_token_id'),
    maxPositionEmbeddings: meta.int(k('context_length')),
  });
}

/** Generation defaults of a GGUF file: its tokenizer's special ids (GGUF has no sampling defaults). */
export function ggufGenerationDefaults(config: NemotronHConfig): GenerationDefaults {
  return { eosTokenIds: config.eosTokenIds, bosTokenId: config.bosTokenId, padTokenId: config.padTokenId };
}

/** The shortest decimal whose float32 rounding is `f` (f itself a float32 value). */
export function shortestF32(f: number): number {
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}
