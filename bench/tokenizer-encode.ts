/**
 * Tokenizer encode throughput on a deterministic 10 MB mixed-language text (scripts/tokenizer/mixed-text.ts; the
 * Python counterpart scripts/tokenizer/bench_encode.py generates the byte-identical text and measures the Python
 * `tokenizers` library on it).
 *
 *   npx tsx bench/tokenizer-encode.ts [--tokenizer DIR ...] [--mb 10] [--runs 3] [--hf-js] [--json OUT]
 *
 * MB = 2^20 bytes of UTF-8 input. Prints the text's sha256 and the ids' sha256 (ids joined by ",") so results can be
 * checked against the Python run: same text, same ids.
 */
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../src/tokenizer/index.js';
import { mixedText } from '../scripts/tokenizer/mixed-text.js';

const SEED = 42;

function args(): { dirs: string[]; mb: number; runs: number; hfJs: boolean; json?: string } {
  const a = process.argv.slice(2);
  const dirs: string[] = [];
  let mb = 10;
  let runs = 3;
  let hfJs = false;
  let json: string | undefined;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--tokenizer') dirs.push(a[++i]);
    else if (a[i] === '--mb') mb = Number(a[++i]);
    else if (a[i] === '--runs') runs = Number(a[++i]);
    else if (a[i] === '--hf-js') hfJs = true;
    else if (a[i] === '--json') json = a[++i];
    else throw new Error(`unknown argument ${a[i]}`);
  }
  if (dirs.length === 0) {
    const fix = fileURLToPath(new URL('../test/fixtures/tokenizers/', import.meta.url));
    for (const n of ['nemotron-tekken-32k', 'qwen3', 'gpt35-cl100k']) dirs.push(fix + n);
  }
  return { dirs, mb, runs, hfJs, json };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const opt = args();
  const text = mixedText(Math.round(opt.mb * (1 << 20)), SEED);
  const raw = Buffer.from(text, 'utf8');
  const mb = raw.length / (1 << 20);
  const env = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    text_bytes: raw.length,
    text_sha256: createHash('sha256').update(raw).digest('hex'),
    seed: SEED,
  };
  console.log(JSON.stringify(env));
  const results: unknown[] = [];
  for (const dir of opt.dirs) {
    if (!existsSync(dir + '/tokenizer.json')) {
      console.log(`${dir}: no tokenizer.json, skipped`);
      continue;
    }
    const t0 = performance.now();
    const tok = Tokenizer.fromDirectorySync(dir);
    const loadS = (performance.now() - t0) / 1000;
    tok.encode(text.slice(0, 200_000), { addSpecialTokens: false }); // warm-up (JIT, word cache)
    const secs: number[] = [];
    let ids: number[] = [];
    for (let r = 0; r < opt.runs; r++) {
      const t = performance.now();
      ids = tok.encode(text, { addSpecialTokens: false });
      secs.push((performance.now() - t) / 1000);
    }
    const res: Record<string, unknown> = {
      tokenizer: dir,
      load_seconds: +loadS.toFixed(3),
      tokens: ids.length,
      ids_sha256: createHash('sha256').update(ids.join(',')).digest('hex'),
      encode_mb_s_median: +(mb / median(secs)).toFixed(2),
      encode_mb_s_best: +(mb / Math.min(...secs)).toFixed(2),
      seconds: secs.map((s) => +s.toFixed(3)),
    };
    if (opt.hfJs) {
      // The JS port of HF tokenizers, for the record of why we do not use it (one run).
      const { Tokenizer: HfTokenizer } = await import('@huggingface/tokenizers');
      const cfgPath = dir + '/tokenizer_config.json';
      const hf = new HfTokenizer(
        JSON.parse(readFileSync(dir + '/tokenizer.json', 'utf8')),
        existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, 'utf8')) : {},
      );
      hf.encode(text.slice(0, 200_000), { add_special_tokens: false });
      const t = performance.now();
      const hfIds = hf.encode(text, { add_special_tokens: false }).ids;
      const s = (performance.now() - t) / 1000;
      res.hf_js_mb_s = +(mb / s).toFixed(2);
      res.hf_js_ids_sha256 = createHash('sha256').update(hfIds.join(',')).digest('hex');
    }
    console.log(JSON.stringify(res));
    results.push(res);
  }
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ env, results }, null, 1) + '\n');
}

await main();
