/**
 * Compares our Tokenizer with @huggingface/tokenizers (the JS port) on the hard-string corpus and, when present,
 * with the Python goldens. It is how the choice between the library and our own implementation was made:
 *
 *   npx tsx scripts/tokenizer/check-hf-js.ts [name ...]
 *
 * Prints per tokenizer: cases where each implementation differs from the Python golden (or from each other when
 * no golden exists), and encode speed on the 10 MB benchmark text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { mixedText } from './mixed-text.js';

const FIX = new URL('../../test/fixtures/tokenizers/', import.meta.url);
const names = process.argv.slice(2).length ? process.argv.slice(2) : ['nemotron-tekken-32k', 'qwen3', 'gpt35-cl100k'];
const corpus = JSON.parse(readFileSync(new URL('corpus.json', FIX), 'utf8')) as { cat: string; text: string }[];

interface GoldenCase {
  text: string;
  ids: number[];
}

const eq = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

for (const name of names) {
  const dir = new URL(`${name}/`, FIX);
  if (!existsSync(new URL('tokenizer.json', dir))) {
    console.log(`${name}: no tokenizer.json, skipped`);
    continue;
  }
  const json = JSON.parse(readFileSync(new URL('tokenizer.json', dir), 'utf8'));
  const cfgUrl = new URL('tokenizer_config.json', dir);
  const cfg = existsSync(cfgUrl) ? JSON.parse(readFileSync(cfgUrl, 'utf8')) : {};
  const ours = Tokenizer.fromJSON(json, cfg);
  let hf: HfTokenizer | null = null;
  try {
    hf = new HfTokenizer(json, cfg);
  } catch (e) {
    console.log(`${name}: @huggingface/tokenizers failed to load: ${(e as Error).message}`);
  }
  const goldenUrl = new URL(`goldens/golden-${name}.json`, FIX);
  const golden = existsSync(goldenUrl)
    ? (JSON.parse(readFileSync(goldenUrl, 'utf8')) as { cases: GoldenCase[] }).cases
    : null;
  let oursBad = 0;
  let hfBad = 0;
  const shown: string[] = [];
  corpus.forEach((row, i) => {
    const a = ours.encode(row.text, { addSpecialTokens: false });
    let b: number[] | null = null;
    try {
      b = hf ? hf.encode(row.text, { add_special_tokens: false }).ids : null;
    } catch {
      b = [-1];
    }
    // Without a golden, the two implementations are compared with each other (counted as "ours differs").
    const ref = golden ? golden[i].ids : b;
    if (!ref) return;
    if (!eq(a, ref)) {
      oursBad++;
      if (shown.length < 8) shown.push(`ours   ${JSON.stringify(row.text).slice(0, 60)} ${JSON.stringify(a).slice(0, 80)} vs ${JSON.stringify(ref).slice(0, 80)}`);
    }
    if (golden && b && !eq(b, ref)) {
      hfBad++;
      if (shown.length < 16) shown.push(`hf-js  ${JSON.stringify(row.text).slice(0, 60)} ${JSON.stringify(b).slice(0, 80)} vs ${JSON.stringify(ref).slice(0, 80)}`);
    }
  });
  const refName = golden ? 'Python golden' : 'ours (no golden yet)';
  console.log(`${name}: ${corpus.length} strings vs ${refName}: ours differs on ${oursBad}, @huggingface/tokenizers differs on ${hfBad}`);
  for (const s of shown) console.log('   ' + s);

  const text = mixedText(Number(process.env.MB ?? 10) * (1 << 20), 42);
  const mb = Buffer.byteLength(text) / (1 << 20);
  for (const [label, f] of [
    ['ours', () => ours.encode(text, { addSpecialTokens: false })],
    ['@huggingface/tokenizers', () => hf?.encode(text, { add_special_tokens: false })],
  ] as const) {
    if (label !== 'ours' && !hf) continue;
    const t0 = performance.now();
    f();
    const s = (performance.now() - t0) / 1000;
    console.log(`   ${label}: ${(mb / s).toFixed(2)} MB/s (one cold run on 10 MB)`);
  }
}
