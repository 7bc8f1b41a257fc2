/**
 * NemotronH `config.json` -> typed config. Reads every field the forward pass uses from the file and never
 * falls back to transformers class defaults (they differ from the real model: model-spec 1.1).
 * Accepts the three layer-pattern encodings (model-spec 2.1) and non-finite floats (pitfall P8).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLenientJson } from '../util/lenient-json.js';

/** One block mixer kind; the chars are those of `hybrid_override_pattern`. */
export type LayerKind = 'mamba' | 'attention' | 'moe' | 'mlp';

const CHAR_TO_KIND: Record<string, LayerKind> = { M: 'mamba', '*': 'attention', E: 'moe', '-': 'mlp' };
const NAME_TO_KIND: Record<string, LayerKind> = {
  mamba: 'mamba', linear_attention: 'mamba',
  attention: 'attention', full_attention: 'attention',
  moe: 'moe', mlp: 'mlp',
};
export const KIND_TO_CHAR: Record<LayerKind, string> = { mamba: 'M', attention: '*', moe: 'E', mlp: '-' };

/** Everything the NemotronH forward pass needs, with the derived sizes. */
export interface NemotronHConfig {
  modelType: 'nemotron_h';
  vocabSize: number;
  hiddenSize: number;
  layers: LayerKind[];
  normEps: number;
  tieWordEmbeddings: boolean;
  // attention
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  // mamba-2
  mambaNumHeads: number;
  mambaHeadDim: number;
  ssmStateSize: number;
  nGroups: number;
  convKernel: number;
  chunkSize: number;
  useConvBias: boolean;
  mambaProjBias: boolean;
  timeStepLimit: [number, number];
  // moe / mlp
  nRoutedExperts: number;
  numExpertsPerTok: number;
  moeIntermediateSize: number;
  moeSharedIntermediateSize: number;
  nSharedExperts: number;
  intermediateSize: number;
  routedScalingFactor: number;
  normTopkProb: boolean;
  nGroup: number;
  topkGroup: number;
  mlpBias: boolean;
  // tokens
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  maxPositionEmbeddings: number;
  // derived
  dInner: number; // mamba_num_heads * mamba_head_dim (NOT expand * hidden)
  convDim: number; // dInner + 2 * nGroups * ssmStateSize
  inProjSize: number; // dInner + convDim + mambaNumHeads
}

/** A config problem, naming the file and the field. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads and validates `<dir>/config.json`. */
export function loadConfig(dir: string): NemotronHConfig {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read (${(e as Error).message})`);
  }
  return parseConfig(text, file);
}

/** Parses config.json text; `source` names the file in errors. */
export function parseConfig(text: string, source = 'config.json'): NemotronHConfig {
  let raw: unknown;
  try {
    raw = parseLenientJson(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  const r = raw as Record<string, unknown>;
  const fail = (field: string, why: string): never => {
    throw new ConfigError(`${source}: field "${field}" ${why}`);
  };
  if (r.model_type !== 'nemotron_h') {
    fail('model_type', `is ${JSON.stringify(r.model_type)}; only "nemotron_h" is supported`);
  }
  const int = (field: string, min = 1): number => {
    const v = r[field];
    if (v === undefined) fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(field, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const intOr = (field: string, dflt: number, min = 1): number => (r[field] === undefined || r[field] === null ? dflt : int(field, min));
  const num = (field: string): number => {
    const v = r[field];
    if (v === undefined) fail(field, 'is missing');
    if (typeof v !== 'number' || Number.isNaN(v)) fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (field: string, dflt: boolean): boolean => {
    const v = r[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') fail(field, `must be a boolean, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const str = (field: string, dflt: string): string => {
    const v = r[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v as string;
  };

  const layers = parseLayers(r, fail);
  const has = (k: LayerKind) => layers.includes(k);
  const hiddenSize = int('hidden_size');
  const vocabSize = int('vocab_size');
  const normEps = r.layer_norm_epsilon !== undefined ? num('layer_norm_epsilon') : num('norm_eps');
  if (!(normEps > 0)) fail('layer_norm_epsilon', 'must be > 0');

  // Mamba fields are required only when the pattern has Mamba layers; likewise for the others.
  const mambaNumHeads = has('mamba') ? int('mamba_num_heads') : 0;
  const mambaHeadDim = has('mamba') ? int('mamba_head_dim') : 0;
  const ssmStateSize = has('mamba') ? int('ssm_state_size') : 0;
  const nGroups = has('mamba') ? int('n_groups') : 1;
  const convKernel = has('mamba') ? int('conv_kernel') : 1;
  if (has('mamba') && mambaNumHeads % nGroups !== 0) {
    fail('n_groups', `(${nGroups}) must divide mamba_num_heads (${mambaNumHeads})`);
  }
  if (has('mamba')) {
    const act = str('mamba_hidden_act', 'silu');
    if (act !== 'silu') fail('mamba_hidden_act', `is "${act}"; only "silu" is supported`);
  }
  const timeStepLimit = parseTimeStepLimit(r.time_step_limit, fail);

  const numAttentionHeads = has('attention') ? int('num_attention_heads') : 0;
  const numKeyValueHeads = has('attention') ? int('num_key_value_heads') : 0;
  const headDim = has('attention') ? int('head_dim') : 0;
  if (has('attention') && numAttentionHeads % numKeyValueHeads !== 0) {
    fail('num_key_value_heads', `(${numKeyValueHeads}) must divide num_attention_heads (${numAttentionHeads})`);
  }

  const nRoutedExperts = has('moe') ? int('n_routed_experts') : 0;
  const numExpertsPerTok = has('moe') ? int('num_experts_per_tok') : 0;
  if (has('moe') && numExpertsPerTok > nRoutedExperts) {
    fail('num_experts_per_tok', `(${numExpertsPerTok}) exceeds n_routed_experts (${nRoutedExperts})`);
  }
  const nGroup = has('moe') ? intOr('n_group', 1) : 1;
  const topkGroup = has('moe') ? intOr('topk_group', 1) : 1;
  if (has('moe') && (nRoutedExperts % nGroup !== 0 || topkGroup > nGroup)) {
    fail('n_group', `(${nGroup}) must divide n_routed_experts and be >= topk_group (${topkGroup})`);
  }
  if (has('moe') || has('mlp')) {
    const act = str('mlp_hidden_act', 'relu2');
    if (act !== 'relu2') fail('mlp_hidden_act', `is "${act}"; only "relu2" is supported`);
  }
  const nSharedExperts = has('moe') ? intOr('n_shared_experts', 1, 0) : 0;
  if (nSharedExperts > 1) fail('n_shared_experts', `is ${nSharedExperts}; the shared expert is a single MLP (0 or 1)`);

  const eos = r.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos.map(Number) : typeof eos === 'number' ? [eos] : [];
  const optionalId = (field: string): number | null => (typeof r[field] === 'number' ? (r[field] as number) : null);

  return withDerivedSizes({
    modelType: 'nemotron_h',
    vocabSize,
    hiddenSize,
    layers,
    normEps,
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    mambaNumHeads,
    mambaHeadDim,
    ssmStateSize,
    nGroups,
    convKernel,
    chunkSize: has('mamba') ? intOr('chunk_size', 128) : 128,
    useConvBias: bool('use_conv_bias', true),
    mambaProjBias: bool('use_bias', false) || bool('mamba_proj_bias', false),
    timeStepLimit,
    nRoutedExperts,
    numExpertsPerTok,
    moeIntermediateSize: has('moe') ? int('moe_intermediate_size') : 0,
    moeSharedIntermediateSize: has('moe') && nSharedExperts > 0 ? int('moe_shared_expert_intermediate_size') : 0,
    nSharedExperts,
    intermediateSize: has('mlp') ? int('intermediate_size') : 0,
    routedScalingFactor: has('moe') ? num('routed_scaling_factor') : 1,
    normTopkProb: bool('norm_topk_prob', true),
    nGroup,
    topkGroup,
    mlpBias: bool('mlp_bias', false),
    bosTokenId: optionalId('bos_token_id'),
    eosTokenIds,
    padTokenId: optionalId('pad_token_id'),
    maxPositionEmbeddings: intOr('max_position_embeddings', 262144),
  });
}

/** Adds the sizes derived from the Mamba fields (model-spec 1.1), for every config source (config.json, GGUF). */
export function withDerivedSizes(c: Omit<NemotronHConfig, 'dInner' | 'convDim' | 'inProjSize'>): NemotronHConfig {
  const dInner = c.mambaNumHeads * c.mambaHeadDim;
  const convDim = dInner + 2 * c.nGroups * c.ssmStateSize;
  return { ...c, dInner, convDim, inProjSize: dInner + convDim + c.mambaNumHeads };
}

function parseLayers(r: Record<string, unknown>, fail: (f: string, why: string) => never): LayerKind[] {
  let layers: LayerKind[] | undefined;
  let field = '';
  const list = r.layers_block_type ?? r.layer_types;
  if (list !== undefined && list !== null) {
    field = r.layers_block_type !== undefined ? 'layers_block_type' : 'layer_types';
    if (!Array.isArray(list)) fail(field, 'must be a list of layer type names');
    layers = (list as unknown[]).map((name, i) => {
      const kind = typeof name === 'string' ? NAME_TO_KIND[name] : undefined;
      if (!kind) fail(field, `entry ${i} is ${JSON.stringify(name)}; expected one of ${Object.keys(NAME_TO_KIND).join(', ')}`);
      return kind as LayerKind;
    });
  }
  const pattern = r.hybrid_override_pattern;
  if (pattern !== undefined && pattern !== null) {
    if (typeof pattern !== 'string') fail('hybrid_override_pattern', 'must be a string of M, E, *, -');
    const fromPattern = [...(pattern as string)].map((c, i) => {
      const kind = CHAR_TO_KIND[c];
      if (!kind) fail('hybrid_override_pattern', `has "${c}" at position ${i}; expected one of M, E, *, -`);
      return kind as LayerKind;
    });
    if (layers && layers.join() !== fromPattern.join()) {
      fail('hybrid_override_pattern', `disagrees with ${field}`);
    }
    layers = fromPattern;
    field = 'hybrid_override_pattern';
  }
  if (!layers) return fail('hybrid_override_pattern', 'is missing (and so are layers_block_type / layer_types)');
  if (layers.length === 0) fail(field, 'is empty');
  const n = r.num_hidden_layers;
  if (typeof n === 'number' && n !== layers.length) {
    fail('num_hidden_layers', `is ${n} but ${field} has ${layers.length} layers`);
  }
  return layers;
}

function parseTimeStepLimit(v: unknown, fail: (f: string, why: string) => never): [number, number] {
  // Absent: the released kernels apply no clamp (model-spec 3.4), i.e. (0, inf).
  if (v === undefined || v === null) return [0, Infinity];
  if (!Array.isArray(v) || v.length !== 2 || v.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
    return fail('time_step_limit', `must be [lo, hi] numbers, got ${JSON.stringify(v)}`);
  }
  if (v[0] > v[1]) fail('time_step_limit', 'has lo > hi');
  return [v[0], v[1]];
}
