// SFT preparation and packing: the loss mask covers exactly the assistant spans (checked against an
// independent reconstruction of what each assistant turn generates), packs never split a conversation,
// boundaries are recorded, and corrupted pack files are rejected (by the TypeScript reader and by the
// training script's Python reader).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../src/template/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { trainByteLevelBpe } from '../../src/training/bpe-train.js';
import { packSequences, sequenceRanges } from '../../src/training/pack.js';
import { PackFormatError, readPacks, writePacks } from '../../src/training/pack-io.js';
import { alignMask, prepareSft, splitConversation, SftRenderError, type SftConversation } from '../../src/training/sft.js';
import { generateConversations, type ChatMessage, type Conversation } from '../../src/training/synthetic.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const template = new ChatTemplate(readFileSync(join(ROOT, 'models/default/chat_template.jinja'), 'utf8'));
const convs = generateConversations({ seed: 5, count: 400 });
const rendered = convs.map((c) => template.render(c.messages, { tools: c.tools, enableThinking: c.thinking, addGenerationPrompt: false }));
// A small tokenizer trained on the same data: the tests need ids, not the shipped vocabulary.
const tokenizer = Tokenizer.fromJSON(trainByteLevelBpe(rendered, { vocabSize: 1800, controlSlots: 1000 }), { eos_token: '<|im_end|>' });

/** What the model must generate for an assistant message, written independently of the template. */
function expectedAssistantText(m: ChatMessage, keepReasoning: boolean): string {
  let s = keepReasoning && m.reasoning_content ? `${m.reasoning_content}\n</think>\n` : '';
  const content = (m.content ?? '').trim();
  if (m.tool_calls) {
    if (content) s += `${content}\n`;
    else if (keepReasoning && m.reasoning_content) s = s.replace(/\n$/, '\n');
    else s += '\n';
    for (const tc of m.tool_calls) {
      s += `<tool_call>\n<function=${tc.function.name}>\n`;
      for (const [k, v] of Object.entries(JSON.parse(tc.function.arguments) as Record<string, unknown>)) s += `<parameter=${k}>\n${String(v)}\n</parameter>\n`;
      s += '</function>\n</tool_call>\n';
    }
  } else s += content;
  return `${s}<|im_end|>`;
}

describe('splitConversation', () => {
  it('trains exactly the assistant spans: text the model generates after the generation prompt', () => {
    let checkedSpans = 0;
    for (const c of convs) {
      const seqs = splitConversation(c, template);
      const assistantIdx = c.messages.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
      if (c.thinking) {
        // one sequence per user turn; each trains only the assistant steps after its last user message
        expect(seqs.length).toBe(c.turns.length);
      } else expect(seqs.length).toBe(1);
      const trainedTexts = seqs.flatMap((s) => s.segments.filter((g) => g.trained).map((g) => g.text));
      const expected = assistantIdx.map((i) => expectedAssistantText(c.messages[i], c.thinking));
      expect(trainedTexts).toEqual(expected);
      checkedSpans += expected.length;
      for (const s of seqs) {
        // segments tile the full render of the sequence's messages
        const text = s.segments.map((g) => g.text).join('');
        expect(text.startsWith('<|im_start|>system\n')).toBe(true);
        for (const g of s.segments.filter((g) => !g.trained)) expect(g.text).not.toMatch(/^<\|im_end\|>/);
      }
    }
    expect(checkedSpans).toBeGreaterThan(700);
  });

  it('drops reasoning of turns before the last user message, as the template does', () => {
    const c = convs.find((x) => x.thinking && x.turns.length >= 2)!;
    const seqs = splitConversation(c, template);
    const last = seqs[seqs.length - 1];
    const context = last.segments.filter((g) => !g.trained).map((g) => g.text).join('');
    const firstReasoning = c.messages.find((m) => m.role === 'assistant')!.reasoning_content!;
    expect(context).not.toContain(firstReasoning);
    expect(context).toContain('<think></think>');
    // the generation prompt belongs to the context
    expect(context.endsWith('<|im_start|>assistant\n<think>\n') || /<\|im_start\|>assistant\n<think>\n$/.test(last.segments[last.segments.findIndex((g) => g.trained) - 1].text)).toBe(true);
  });

  it('puts the thinking-off generation prompt in the context', () => {
    const c = convs.find((x) => !x.thinking)!;
    const seg = splitConversation(c, template)[0].segments;
    const i = seg.findIndex((g) => g.trained);
    expect(seg[i - 1].text.endsWith('<|im_start|>assistant\n<think></think>')).toBe(true);
  });

  it('rejects a record whose incremental renders are not prefixes of the full render', () => {
    // a template whose output depends on the number of messages breaks the prefix property
    const weird = new ChatTemplate("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{{ messages|length }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
    const conv: SftConversation = { id: 'x', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] };
    expect(() => splitConversation(conv, weird)).toThrow(SftRenderError);
    const { stats } = prepareSft([conv], weird, tokenizer);
    expect(stats.rejected).toHaveLength(1);
  });
});

describe('tokenized sequences', () => {
  const { sequences, stats } = prepareSft(convs, template, tokenizer, { checkBoundaries: true });

  it('have a mask equal to the tokens of the trained segments, and segment-wise ids equal whole-text ids', () => {
    expect(stats.rejected).toEqual([]);
    expect(stats.boundaryMismatches).toBe(0);
    let k = 0;
    for (const c of convs) {
      for (const s of splitConversation(c, template)) {
        const seq = sequences[k++];
        const trainedText = s.segments.filter((g) => g.trained).map((g) => g.text).join('');
        const maskedIds = seq.inputIds.filter((_, j) => seq.lossMask[j] === 1);
        expect(tokenizer.decode(maskedIds)).toBe(trainedText);
        // every trained run ends with <|im_end|> and starts right after a generation prompt
        const imEnd = tokenizer.specialTokens.imEnd!;
        for (let j = 0; j < seq.lossMask.length; j++) {
          if (seq.lossMask[j] && (j + 1 === seq.lossMask.length || !seq.lossMask[j + 1])) expect(seq.inputIds[j]).toBe(imEnd);
        }
      }
    }
    expect(k).toBe(sequences.length);
  });

  it('align the mask per sequence', () => {
    expect(Array.from(alignMask([0, 0, 1, 1, 0, 1]))).toEqual([0, 1, 1, 0, 1, 0]);
    expect(Array.from(alignMask([]))).toEqual([]);
  });

  describe('packing', () => {
    const packSize = 1024;
    const { packs, dropped } = packSequences(sequences, { packSize, seed: 3 });
    const byId = new Map(sequences.map((s) => [s.id, s]));

    it('never splits a conversation and records every boundary', () => {
      expect(dropped.every((id) => byId.get(id)!.inputIds.length > packSize)).toBe(true);
      const seen = new Set<string>();
      for (const p of packs) {
        expect(p.inputIds.length).toBeLessThanOrEqual(packSize);
        expect(p.seqStartId[0]).toBe(0);
        const ranges = sequenceRanges(p);
        ranges.forEach(([s, e], k) => {
          const seq = byId.get(p.sequenceIds[k])!;
          expect(p.inputIds.slice(s, e)).toEqual(seq.inputIds);
          expect(p.lossMask.slice(s, e)).toEqual(Array.from(alignMask(seq.lossMask)));
          expect(p.lossMask[e - 1]).toBe(0);
          seen.add(seq.id);
        });
      }
      expect(seen.size + dropped.length).toBe(sequences.length);
    });

    it('is reproducible and fills bins first-fit', () => {
      const again = packSequences(sequences, { packSize, seed: 3 });
      expect(again.packs.map((p) => p.sequenceIds)).toEqual(packs.map((p) => p.sequenceIds));
      // first fit: free space only shrinks, so a sequence in bin j never fits the final free space of an earlier bin
      const free = packs.map((p) => packSize - p.inputIds.length);
      for (let j = 1; j < packs.length; j++) {
        const smallest = Math.min(...sequenceRanges(packs[j]).map(([s, e]) => e - s));
        for (let i = 0; i < j; i++) expect(smallest).toBeGreaterThan(free[i]);
      }
      const ffd = packSequences(sequences, { packSize, algorithm: 'first_fit_decreasing' });
      expect(ffd.packs.length).toBeLessThanOrEqual(packs.length);
      const cat = packSequences(sequences.slice(0, 20), { packSize, algorithm: 'concatenative' });
      expect(cat.packs.flatMap((p) => p.sequenceIds)).toEqual(sequences.slice(0, 20).map((s) => s.id));
    });

    it('drops or truncates sequences longer than the pack', () => {
      const long = { id: 'long', inputIds: Array(50).fill(5), lossMask: new Uint8Array(50).fill(1) };
      const short = { id: 'short', inputIds: [1, 2, 3], lossMask: Uint8Array.from([0, 1, 1]) };
      expect(packSequences([long, short], { packSize: 10 }).dropped).toEqual(['long']);
      const t = packSequences([long, short], { packSize: 10, tooLong: 'truncate', algorithm: 'concatenative' });
      expect(t.truncated).toEqual(['long']);
      expect(t.packs[0].inputIds).toHaveLength(10);
    });

    describe('pack files', () => {
      const dir = mkdtempSync(join(tmpdir(), 'packs-'));
      afterAll(() => rmSync(dir, { recursive: true, force: true }));
      const meta = writePacks(dir, packs, { packSize, vocabSize: tokenizer.vocabSize, info: { test: true } });

      it('round-trip', () => {
        const back = readPacks(dir);
        expect(back.meta).toEqual(meta);
        expect(back.packs).toEqual(packs);
        expect(meta.input_ids.dtype).toBe('uint16');
        expect(meta.num_sequences).toBe(sequences.length - dropped.length);
      });

      const corrupt = (mutate: (d: string) => void, pattern: RegExp): void => {
        const d = mkdtempSync(join(tmpdir(), 'packs-bad-'));
        try {
          writePacks(d, packs, { packSize, vocabSize: tokenizer.vocabSize });
          mutate(d);
          expect(() => readPacks(d)).toThrow(PackFormatError);
          expect(() => readPacks(d)).toThrow(pattern);
        } finally {
          rmSync(d, { recursive: true, force: true });
        }
      };

      it('reject flipped bytes, truncation, bad metadata and broken boundaries', () => {
        corrupt((d) => {
          const b = readFileSync(join(d, 'input_ids.bin'));
          b[100] ^= 0xff;
          writeFileSync(join(d, 'input_ids.bin'), b);
        }, /input_ids\.bin: sha256/);
        corrupt((d) => writeFileSync(join(d, 'loss_mask.bin'), readFileSync(join(d, 'loss_mask.bin')).subarray(1)), /loss_mask\.bin: has \d+ bytes/);
        corrupt((d) => rmSync(join(d, 'packs.jsonl')), /packs\.jsonl: cannot be read/);
        corrupt((d) => writeFileSync(join(d, 'meta.json'), '{"format": "other"}'), /format/);
        corrupt((d) => writeFileSync(join(d, 'meta.json'), '{not json'), /not valid JSON/);
        // a consistent-looking file set whose boundaries are wrong: re-hash after editing the index
        corrupt((d) => {
          const lines = readFileSync(join(d, 'packs.jsonl'), 'utf8').split('\n');
          const row = JSON.parse(lines[0]);
          row.seq_start_id = [0, 0];
          lines[0] = JSON.stringify(row);
          const text = lines.join('\n');
          writeFileSync(join(d, 'packs.jsonl'), text);
          const m = JSON.parse(readFileSync(join(d, 'meta.json'), 'utf8'));
          m.index.sha256 = execFileSync('sha256sum', [join(d, 'packs.jsonl')]).toString().split(' ')[0];
          writeFileSync(join(d, 'meta.json'), JSON.stringify(m));
        }, /seq_start_id/);
      });

      const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
      it.skipIf(python.status !== 0)('are read identically by the training script (Python), which rejects corruption too', () => {
        const run = (d: string) => spawnSync('python3', [join(ROOT, 'scripts/train/train.py'), '--check-packs', d], { encoding: 'utf8' });
        const ok = run(dir);
        expect(ok.status, ok.stderr).toBe(0);
        const summary = JSON.parse(ok.stdout);
        expect(summary).toMatchObject({ ok: true, packs: packs.length, sequences: meta.num_sequences, tokens: meta.num_tokens, loss_tokens: meta.num_loss_tokens });
        expect(summary.first).toEqual(packs[0].inputIds.slice(0, 8));
        const d = mkdtempSync(join(tmpdir(), 'packs-py-'));
        try {
          writePacks(d, packs, { packSize, vocabSize: tokenizer.vocabSize });
          const b = readFileSync(join(d, 'loss_mask.bin'));
          b[7] = 2;
          writeFileSync(join(d, 'loss_mask.bin'), b);
          const bad = run(d);
          expect(bad.status).toBe(2);
          expect(JSON.parse(bad.stdout).error).toMatch(/sha256/);
        } finally {
          rmSync(d, { recursive: true, force: true });
        }
      });
    });
  });
});

describe('conversation shapes', () => {
  it('a thinking conversation with a tool loop trains every step after the last user message', () => {
    const c = generateConversations({ seed: 9, count: 1, kinds: ['calc'], thinking: true, turns: 1 })[0] as Conversation;
    const seg = splitConversation(c, template)[0].segments;
    const trained = seg.filter((g) => g.trained).map((g) => g.text);
    expect(trained).toHaveLength(2);
    expect(trained[0]).toMatch(/^[^<][\s\S]*\n<\/think>\n<tool_call>\n<function=calculator>\n<parameter=expression>\n[\s\S]*<\/tool_call>\n<\|im_end\|>$/);
    expect(trained[1]).toMatch(/\n<\/think>\n[\s\S]+<\|im_end\|>$/);
  });
});
