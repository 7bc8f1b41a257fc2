import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/models/config.js';
import { parameterCounts } from '../../src/models/params.js';
import { parseLenientJson } from '../../src/util/lenient-json.js';
import { fixtureDir } from '../helpers/fixtures.js';

const hubText = readFileSync(join(fixtureDir('hub-sharded'), 'config.json'), 'utf8');
const hub = parseLenientJson(hubText) as Record<string, unknown>;
const withChanges = (changes: Record<string, unknown>, drop: string[] = []) => {
  const o: Record<string, unknown> = { ...hub, ...changes };
  for (const k of drop) delete o[k];
  return JSON.stringify(o, (_k, v) => (v === Infinity ? '@INF@' : v)).replaceAll('"@INF@"', 'Infinity');
};

// The real Nano config (model-spec 1.1), with the fields the forward pass uses.
const NANO = {
  model_type: 'nemotron_h', vocab_size: 131072, hidden_size: 2688,
  hybrid_override_pattern: 'MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME', num_hidden_layers: 52,
  num_attention_heads: 32, num_key_value_heads: 2, head_dim: 128, mamba_num_heads: 64, mamba_head_dim: 64,
  ssm_state_size: 128, n_groups: 8, conv_kernel: 4, chunk_size: 128, use_conv_bias: true, mamba_hidden_act: 'silu',
  n_routed_experts: 128, num_experts_per_tok: 6, moe_intermediate_size: 1856, moe_shared_expert_intermediate_size: 3712,
  n_shared_experts: 1, intermediate_size: 1856, routed_scaling_factor: 2.5, norm_topk_prob: true, n_group: 1, topk_group: 1,
  mlp_hidden_act: 'relu2', layer_norm_epsilon: 1e-5, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
};

describe('config.json parsing', () => {
  it('reads the real Nano config with a bare Infinity token and derives the sizes of model-spec 1.1', () => {
    const text = JSON.stringify(NANO).replace('"head_dim"', '"time_step_limit": [0.0, Infinity], "head_dim"');
    const c = parseConfig(text);
    expect(c.layers.length).toBe(52);
    expect(c.layers.filter((k) => k === 'mamba').length).toBe(23);
    expect(c.layers.filter((k) => k === 'moe').length).toBe(23);
    expect(c.layers.map((k, i) => (k === 'attention' ? i : -1)).filter((i) => i >= 0)).toEqual([5, 12, 19, 26, 33, 42]);
    expect([c.dInner, c.convDim, c.inProjSize]).toEqual([4096, 6144, 10304]);
    expect(c.timeStepLimit).toEqual([0, Infinity]);
    // model-spec 8: 31,577,940,288 total, 3,227,754,816 active per token excluding the embedding table
    expect(parameterCounts(c)).toEqual({ total: 31_577_940_288, activePerToken: 3_227_754_816 });
  });

  it('accepts all three pattern encodings and both Infinity spellings', () => {
    const fromString = parseConfig(hubText);
    const hf5 = parseConfig(readFileSync(join(fixtureDir('hf5-fused'), 'config.json'), 'utf8'));
    const legacy = parseConfig(readFileSync(join(fixtureDir('legacy-f16'), 'config.json'), 'utf8'));
    expect(fromString.layers).toEqual(hf5.layers);
    expect(fromString.layers.join(',')).toBe('mamba,moe,mamba,attention,moe,mamba,attention,moe');
    expect(legacy.layers.join(',')).toBe('mamba,mlp,attention,moe,mamba,mamba,attention,moe');
    expect(hf5.timeStepLimit).toEqual([0, Infinity]);
    expect(fromString.timeStepLimit).toEqual([0, Infinity]);
    expect(legacy.normEps).toBe(1e-6);
  });

  it('does not treat Infinity inside strings as a number', () => {
    expect(parseLenientJson('{"a": "Infinity and NaN", "b": [Infinity, -Infinity]}')).toEqual({ a: 'Infinity and NaN', b: [Infinity, -Infinity] });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown model type', withChanges({ model_type: 'llama' }), /"model_type".*only "nemotron_h"/],
    ['missing hidden_size', withChanges({}, ['hidden_size']), /"hidden_size" is missing/],
    ['no layer pattern at all', withChanges({}, ['hybrid_override_pattern']), /"hybrid_override_pattern" is missing/],
    ['bad pattern char', withChanges({ hybrid_override_pattern: 'MEX' }), /"hybrid_override_pattern" has "X"/],
    ['unknown layer name', withChanges({ layers_block_type: ['mamba', 'transformer'] }, ['hybrid_override_pattern']), /"layers_block_type" entry 1/],
    ['pattern vs list disagree', withChanges({ layers_block_type: ['mamba'] }), /disagrees with layers_block_type/],
    ['num_hidden_layers mismatch', withChanges({ num_hidden_layers: 3 }), /"num_hidden_layers" is 3/],
    ['n_groups does not divide heads', withChanges({ n_groups: 3 }), /"n_groups"/],
    ['kv heads do not divide heads', withChanges({ num_key_value_heads: 3 }), /"num_key_value_heads"/],
    ['top-k > experts', withChanges({ num_experts_per_tok: 99 }), /"num_experts_per_tok"/],
    ['wrong type', withChanges({ vocab_size: '512' }), /"vocab_size" must be an integer/],
    ['bad time_step_limit', withChanges({ time_step_limit: [1] }), /"time_step_limit"/],
    ['unsupported activation', withChanges({ mlp_hidden_act: 'gelu' }), /"mlp_hidden_act"/],
    ['not JSON', '{"model_type": ', /not valid JSON/],
    ['not an object', '[1, 2]', /expected a JSON object/],
  ];
  it.each(bad)('%s -> ConfigError naming the field', (_what, text, msg) => {
    expect(() => parseConfig(text, 'x/config.json')).toThrow(ConfigError);
    expect(() => parseConfig(text, 'x/config.json')).toThrow(msg);
    expect(() => parseConfig(text, 'x/config.json')).toThrow(/x\/config\.json/);
  });
});
