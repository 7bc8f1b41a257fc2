// The shipped demo model (models/default): its files are complete and small, its tokenizer has the Nemotron
// special-token layout, and nemotron-ts reproduces the training framework's float32 logits (transformers
// 5.17, see scripts/train/train.py and scripts/train/slice_reference.py) and greedy continuations.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { generate } from '../../src/engine/generate.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { SafetensorsFile } from '../../src/loaders/safetensors.js';
import { loadChatTemplate } from '../../src/template/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { relErr } from '../helpers/fixtures.js';

const MODEL = fileURLToPath(new URL('../../models/default/', import.meta.url));
const FIX = fileURLToPath(new URL('./fixtures/', import.meta.url));
const HAS_WEIGHTS = existsSync(MODEL) && readdirSync(MODEL).some((f) => f.endsWith('.safetensors'));

describe.skipIf(!HAS_WEIGHTS)('demo model (models/default)', () => {
  it('ships every file, under 40 MB in total', () => {
    const files = readdirSync(MODEL);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'README.md']) expect(files).toContain(f);
    const total = files.reduce((s, f) => s + statSync(join(MODEL, f)).size, 0);
    expect(total).toBeLessThanOrEqual(40 * 1024 * 1024);
    const gen = JSON.parse(readFileSync(join(MODEL, 'generation_config.json'), 'utf8'));
    expect(gen.eos_token_id).toEqual([2, 11]);
  });

  it('has the Nemotron 3 Nano special-token ids and a 4k-16k vocabulary', () => {
    const tok = Tokenizer.fromDirectorySync(MODEL);
    const want: Record<number, string> = { 0: '<unk>', 1: '<s>', 2: '</s>', 3: '[INST]', 10: '<|im_start|>', 11: '<|im_end|>', 12: '<think>', 13: '</think>', 14: '<tool_call>', 15: '</tool_call>' };
    for (const [id, s] of Object.entries(want)) expect(tok.idToToken(Number(id))).toBe(s);
    expect(tok.vocabSize).toBeGreaterThanOrEqual(4096);
    expect(tok.vocabSize).toBeLessThanOrEqual(16384);
    expect(tok.encode('\n', { addSpecialTokens: false })).toEqual([1010]); // bytes at 1000 + value, as in the real model
    expect(tok.specialTokens.eos).toBe(11);
  });

  it('architecture: all three layer kinds, MoE with >= 8 experts and top-k >= 2', () => {
    const { config } = loadModel(MODEL, new CpuRefBackend());
    const c = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8').replace(/\bInfinity\b/g, '1e999'));
    expect(new Set(c.hybrid_override_pattern)).toEqual(new Set(['M', 'E', '*']));
    expect(c.n_routed_experts).toBeGreaterThanOrEqual(8);
    expect(c.num_experts_per_tok).toBeGreaterThanOrEqual(2);
    expect(config.vocabSize).toBe(4096);
  });

  const meta = JSON.parse(readFileSync(join(FIX, 'demo-reference.json'), 'utf8')) as {
    ids: Record<string, number[]>;
    greedy: { id: string; prompt: number[]; tokens: number[]; min_margin: number }[];
  };
  const lm = HAS_WEIGHTS ? loadModel(MODEL, new CpuRefBackend()) : undefined;

  it.each(Object.keys(meta.ids))('logits of held-out sequence %s match transformers (<= 1e-4 per position)', (k) => {
    const ref = new SafetensorsFile(join(FIX, 'demo-reference.safetensors'));
    const info = ref.tensors.get(`logits.${k}`)!;
    const want = ref.readFloat32(`logits.${k}`);
    const { model } = lm!;
    const got = model.ops.toFloat32(model.forward([{ tokens: meta.ids[k], state: model.newState() }], true));
    const V = info.shape[1];
    let worst = 0;
    for (let r = 0; r < info.shape[0]; r++) worst = Math.max(worst, relErr(got.subarray(r * V, (r + 1) * V), want.subarray(r * V, (r + 1) * V)));
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it.each(meta.greedy.map((g) => [g.id, g] as const))('greedy continuation of %s equals transformers', async (_id, g) => {
    const out = await generate(lm!, g.prompt, { maxTokens: g.tokens.length, temperature: 0 });
    expect(out.tokens).toEqual(g.tokens);
  });

  it('renders and tokenizes a chat prompt with its own template', async () => {
    const tok = Tokenizer.fromDirectorySync(MODEL);
    const template = await loadChatTemplate(MODEL);
    const ids = tok.encode(template.render([{ role: 'user', content: 'What is 17 * 23?' }], { enableThinking: false }), { addSpecialTokens: false });
    expect(ids.slice(0, 1)).toEqual([10]);
    const suffix = tok.encode('<|im_start|>assistant\n<think></think>', { addSpecialTokens: false });
    expect(suffix).toEqual([10, tok.tokenToId('assistant'), 1010, 12, 13]);
    expect(ids.slice(-suffix.length)).toEqual(suffix);
  });
});
