import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/loaders/checkpoint.js';
import { resolveTensors } from '../../src/loaders/load-model.js';
import { parseConfig } from '../../src/models/config.js';

// The real NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 hub layout (model-spec 7.1), written as 13 SPARSE shards: the
// headers are real, the 63 GB of data are holes (no disk space). The loader must map and check all 6243 tensors
// reading headers only, and read a tensor far into a shard with a positioned read.
const PATTERN = 'MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME';
const F32 = /\.(A_log|D|e_score_correction_bias)$/;

function hubTensors(): Array<[string, number[]]> {
  const t: Array<[string, number[]]> = [['backbone.embeddings.weight', [131072, 2688]]];
  [...PATTERN].forEach((c, i) => {
    const m = `backbone.layers.${i}.mixer.`;
    t.push([`backbone.layers.${i}.norm.weight`, [2688]]);
    if (c === 'M') {
      t.push([`${m}in_proj.weight`, [10304, 2688]], [`${m}conv1d.weight`, [6144, 1, 4]], [`${m}conv1d.bias`, [6144]],
        [`${m}dt_bias`, [64]], [`${m}A_log`, [64]], [`${m}D`, [64]], [`${m}norm.weight`, [4096]], [`${m}out_proj.weight`, [2688, 4096]]);
    } else if (c === '*') {
      t.push([`${m}q_proj.weight`, [4096, 2688]], [`${m}k_proj.weight`, [256, 2688]], [`${m}v_proj.weight`, [256, 2688]], [`${m}o_proj.weight`, [2688, 4096]]);
    } else {
      t.push([`${m}gate.weight`, [128, 2688]], [`${m}gate.e_score_correction_bias`, [128]]);
      for (let e = 0; e < 128; e++) t.push([`${m}experts.${e}.up_proj.weight`, [1856, 2688]], [`${m}experts.${e}.down_proj.weight`, [2688, 1856]]);
      t.push([`${m}shared_experts.up_proj.weight`, [3712, 2688]], [`${m}shared_experts.down_proj.weight`, [2688, 3712]]);
    }
  });
  t.push(['backbone.norm_f.weight', [2688]], ['lm_head.weight', [131072, 2688]]);
  return t;
}

const NANO_CONFIG = `{"architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h", "vocab_size": 131072,
 "hidden_size": 2688, "hybrid_override_pattern": "${PATTERN}", "num_hidden_layers": 52, "num_attention_heads": 32,
 "num_key_value_heads": 2, "head_dim": 128, "mamba_num_heads": 64, "mamba_head_dim": 64, "ssm_state_size": 128,
 "n_groups": 8, "conv_kernel": 4, "chunk_size": 128, "use_conv_bias": true, "mamba_hidden_act": "silu",
 "time_step_limit": [0.0, Infinity], "n_routed_experts": 128, "n_shared_experts": 1, "num_experts_per_tok": 6,
 "moe_intermediate_size": 1856, "moe_shared_expert_intermediate_size": 3712, "intermediate_size": 1856,
 "routed_scaling_factor": 2.5, "norm_topk_prob": true, "n_group": 1, "topk_group": 1, "mlp_hidden_act": "relu2",
 "layer_norm_epsilon": 1e-05, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}`;

const dir = mkdtempSync(join(tmpdir(), 'nemotron-real-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeSparseShards(): number {
  const tensors = hubTensors();
  const perShard = Math.ceil(tensors.length / 13);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < 13; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-00013.safetensors`;
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [name, shape] of tensors.slice(s * perShard, (s + 1) * perShard)) {
      const dtype = F32.test(name) ? 'F32' : 'BF16';
      const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
      header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
      weightMap[name] = file;
    }
    const h = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    const fd = openSync(join(dir, file), 'w');
    writeSync(fd, Buffer.concat([len, h]));
    ftruncateSync(fd, 8 + h.length + offset); // a hole: no data written
    closeSync(fd);
    total += offset;
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  writeFileSync(join(dir, 'config.json'), NANO_CONFIG);
  return total;
}

describe('the real Nano hub layout (sparse shards)', () => {
  const total = writeSparseShards();

  it('maps and shape-checks all 6243 tensors from headers alone', () => {
    expect(total).toBe(31_577_940_288 * 2 + (23 * 128 + 23 * 64 * 2) * 2); // 2 bytes a parameter, 4 for the F32 family
    const ckpt = new Checkpoint(dir);
    expect(ckpt.names().length).toBe(6243);
    const { tensors, unused } = resolveTensors(ckpt, parseConfig(NANO_CONFIG));
    expect(tensors.length).toBe(6243);
    expect(unused).toEqual([]);
    expect(tensors.find((t) => t.name === 'layers.51.mixer.experts.127.down_proj.weight')!.info.file).toMatch(/model-00013-of-00013/);
    ckpt.close();
  });

  it('reads one tensor far into the last shard with a positioned read (offset > 4 GiB)', () => {
    const ckpt = new Checkpoint(dir);
    const info = ckpt.info('backbone.norm_f.weight');
    expect(info.offset).toBeGreaterThan(2 ** 32);
    const bytes = ckpt.readBytes('backbone.norm_f.weight');
    expect(bytes.length).toBe(2688 * 2);
    expect(bytes.every((b) => b === 0)).toBe(true); // a hole reads as zeros
    ckpt.close();
  });
});
