/**
 * Prepares everything the demo model's training run needs, on this machine (no GPU):
 *   1. synthetic conversations (src/training/synthetic.ts), train and held-out seeds kept apart;
 *   2. the tokenizer, trained on the rendered training conversations plus an English side corpus (the doc
 *      comments of the pinned @types/node package) so that the vocabulary reaches its target size;
 *      written to models/default/tokenizer.json + tokenizer_config.json;
 *   3. SFT sequences (render -> split per user turn -> tokenize -> role-based loss mask) packed first-fit into
 *      4096-token packs and written in the pack format of src/training/pack-io.ts, then gzipped for transport;
 *   4. held-out token sequences for the logits-parity check and a tokenizer cross-check for Python `tokenizers`.
 *
 * Usage: npx tsx scripts/train/prepare.ts [--out .train-data] [--conversations 30000] [--vocab 4096]
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ChatTemplate } from '../../src/template/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { trainByteLevelBpe } from '../../src/training/bpe-train.js';
import { packSequences } from '../../src/training/pack.js';
import { readPacks, writePacks } from '../../src/training/pack-io.js';
import { prepareSft } from '../../src/training/sft.js';
import { generateConversations } from '../../src/training/synthetic.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL_DIR = join(ROOT, 'models', 'default');

/** Seeds: training data, tokenizer-check texts and held-out data never share one. */
export const SEEDS = { train: 20261129, heldout: 777001, eval: 424242 } as const;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** Doc-comment prose of @types/node (files sorted), the tokenizer's side corpus. */
function sideCorpus(): string[] {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('@types/node/package.json'));
  const lines: string[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.d.ts')).sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const m = /^\s*\* ?(.*)$/.exec(line);
      if (m && m[1].trim() && !m[1].startsWith('@')) lines.push(m[1]);
    }
  }
  return lines;
}

function sha(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

function main(): void {
  const out = join(ROOT, arg('out', '.train-data'));
  const nConv = Number(arg('conversations', '30000'));
  const vocabSize = Number(arg('vocab', '4096'));
  const packSize = Number(arg('pack-size', '4096'));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'packs'), { recursive: true });
  const template = new ChatTemplate(readFileSync(join(MODEL_DIR, 'chat_template.jinja'), 'utf8'));
  const t0 = Date.now();
  const log = (msg: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

  // 1. conversations
  const train = generateConversations({ seed: SEEDS.train, count: nConv });
  log(`${train.length} training conversations`);

  // 2. tokenizer
  const rendered = train.map((c) => template.render(c.messages, { tools: c.tools, enableThinking: c.thinking, addGenerationPrompt: false }));
  const side = sideCorpus();
  const tokJson = trainByteLevelBpe([...rendered, ...side], { vocabSize, controlSlots: 1000, minFrequency: 2 });
  const tokText = JSON.stringify(tokJson, null, 1) + '\n';
  writeFileSync(join(MODEL_DIR, 'tokenizer.json'), tokText);
  const tokConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<s>',
    eos_token: '<|im_end|>',
    unk_token: '<unk>',
    pad_token: '<unk>',
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 8192,
    model_input_names: ['input_ids', 'attention_mask'],
  };
  writeFileSync(join(MODEL_DIR, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2) + '\n');
  const tokenizer = Tokenizer.fromJSON(tokJson, tokConfig);
  const merges = ((tokJson.model as { merges: unknown[] }).merges).length;
  log(`tokenizer: vocab ${tokenizer.vocabSize}, ${merges} merges, side corpus ${side.length} lines (sha256 ${sha(side.join('\n')).slice(0, 16)})`);

  // 3. SFT sequences and packs
  const { sequences, stats } = prepareSft(train, template, tokenizer, { checkBoundaries: true });
  log(`sft: ${stats.sequences} sequences, ${stats.tokens} tokens (${stats.trainedTokens} trained), ${stats.rejected.length} rejected, ${stats.boundaryMismatches} boundary mismatches`);
  if (stats.rejected.length || stats.boundaryMismatches) throw new Error('SFT preparation found rejected records or tokenization boundary mismatches');
  const packed = packSequences(sequences, { packSize, seed: SEEDS.train, algorithm: 'first_fit_shuffle' });
  const info = { generator_seed: SEEDS.train, conversations: nConv, template_sha256: sha(template.source), tokenizer_sha256: sha(tokText), dropped: packed.dropped.length };
  const meta = writePacks(join(out, 'packs'), packed.packs, { packSize, vocabSize: tokenizer.vocabSize, info });
  readPacks(join(out, 'packs')); // validate what was written
  const fill = meta.num_tokens / (meta.num_packs * packSize);
  log(`packs: ${meta.num_packs} x ${packSize} (fill ${(fill * 100).toFixed(1)} %), ${packed.dropped.length} sequences dropped as too long`);
  for (const f of ['input_ids.bin', 'loss_mask.bin']) {
    const p = join(out, 'packs', f);
    writeFileSync(`${p}.gz`, gzipSync(readFileSync(p), { level: 9 }));
    rmSync(p);
  }

  // 4. held-out sequences (logits parity) and tokenizer cross-check texts
  const held = generateConversations({ seed: SEEDS.heldout, count: 6 });
  const heldSeqs = prepareSft(held, template, tokenizer).sequences.slice(0, 4).map((s) => ({ id: s.id, ids: s.inputIds }));
  const checkTexts = [
    ...generateConversations({ seed: SEEDS.heldout + 1, count: 20 }).map((c) => template.render(c.messages, { tools: c.tools, enableThinking: c.thinking, addGenerationPrompt: true })),
    'Hello world! 17 * 23 = 391. Café, naïve, 東京, emoji 🙂, tabs\tand\r\nnewlines.',
    side.slice(100, 140).join('\n'),
  ];
  const prompts = (
    [
      [['calc'], true],
      [['unit'], false],
      [['fact'], true],
    ] as const
  ).map(([kinds, thinking], k) => {
    const c = generateConversations({ seed: SEEDS.heldout + 2 + k, count: 1, kinds, thinking, turns: 1 })[0];
    const upTo = c.turns[0].userIndex + 1;
    const text = template.render(c.messages.slice(0, upTo), { tools: c.tools, enableThinking: thinking, addGenerationPrompt: true });
    return { id: `${c.id}:${kinds[0]}`, ids: tokenizer.encode(text, { addSpecialTokens: false }) };
  });
  writeFileSync(join(out, 'heldout.json'), JSON.stringify({ sequences: heldSeqs, prompts }) + '\n');
  writeFileSync(join(out, 'tokenizer-check.json'), JSON.stringify(checkTexts.map((text) => ({ text, ids: tokenizer.encode(text, { addSpecialTokens: false }) }))) + '\n');
  const report = { ...info, sft: { ...stats, rejected: stats.rejected.length }, packs: { count: meta.num_packs, pack_size: packSize, tokens: meta.num_tokens, loss_tokens: meta.num_loss_tokens, fill }, vocab_size: tokenizer.vocabSize, merges };
  writeFileSync(join(out, 'prepare-report.json'), JSON.stringify(report, null, 2) + '\n');
  log(`wrote ${out}`);
}

main();
