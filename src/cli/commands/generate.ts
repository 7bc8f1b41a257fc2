/**
 * `nemotron generate --model DIR --prompt TEXT | --prompt-ids IDS`: streams a continuation to stdout, through the
 * engine that `nemotron serve` runs (on CUDA: tokens drawn on the GPU, decode in pipelined graph sessions).
 */
import { parseArgs } from 'node:util';
import { Engine } from '../../engine/engine.js';
import { loadModelAsync } from '../../loaders/load-model.js';
import { loadingProgress } from '../../server/progress.js';
import { selectBackend } from '../../runtime/select.js';
import { idsFlag, numberFlag, UsageError } from '../args.js';
import { loadTextCodec } from '../text.js';
import { defaultModelDir, requireModelDir } from '../../server/model.js';

export const usage = `nemotron generate [--model DIR] (--prompt TEXT | --prompt-ids 1,2,3) [options]
  --model DIR            a NemotronH model directory (default: the built-in demo model)
  --max-tokens N         new tokens (default 64)
  --temperature T        0 = greedy (default 0)
  --top-k K  --top-p P  --min-p P  --repetition-penalty R  --seed S
  --ignore-eos           do not stop at the eos ids of generation_config.json
  --prefill-chunk N      prefill the prompt N tokens at a time
  --backend NAME         cpu-simd (default), cpu-fast, cpu-ref (the plain reference), cuda
  --ids                  print token ids instead of text`;

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' }, prompt: { type: 'string', short: 'p' }, 'prompt-ids': { type: 'string' },
      'max-tokens': { type: 'string', short: 'n' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
      'top-p': { type: 'string' }, 'min-p': { type: 'string' }, 'repetition-penalty': { type: 'string' },
      seed: { type: 'string' }, 'ignore-eos': { type: 'boolean' }, 'prefill-chunk': { type: 'string' },
      backend: { type: 'string' }, ids: { type: 'boolean' }, stats: { type: 'boolean' },
    },
  });
  const isDefault = values.model === undefined;
  const dir = values.model ?? defaultModelDir();
  requireModelDir(dir, isDefault);
  if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) throw new UsageError(`give exactly one of --prompt or --prompt-ids\n${usage}`);
  const progress = loadingProgress(`loading ${dir}`);
  let lm;
  try {
    lm = await loadModelAsync(dir, selectBackend(values.backend), { onProgress: progress.update });
  } finally {
    progress.stop();
  }
  const codec = values.prompt !== undefined || !values.ids ? await loadTextCodec(dir) : null;
  let prompt: number[];
  if (values['prompt-ids'] !== undefined) prompt = idsFlag(values['prompt-ids'], 'prompt-ids');
  else {
    if (!codec) throw new UsageError(`${dir} has no tokenizer.json: use --prompt-ids`);
    prompt = codec.encode(values.prompt!);
  }
  const maxTokens = numberFlag(values, 'max-tokens', { int: true, min: 1 }) ?? 64;
  const sampling = {
    temperature: numberFlag(values, 'temperature', { min: 0 }) ?? 0,
    topK: numberFlag(values, 'top-k', { int: true, min: -1 }),
    topP: numberFlag(values, 'top-p', { min: 0, max: 1 }),
    minP: numberFlag(values, 'min-p', { min: 0, max: 1 }),
    repetitionPenalty: numberFlag(values, 'repetition-penalty', { min: 0 }),
    seed: numberFlag(values, 'seed', { int: true }),
  };
  // the whole prompt in one forward unless --prefill-chunk says otherwise
  const chunk = numberFlag(values, 'prefill-chunk', { int: true, min: 1 }) ?? prompt.length;
  const engine = new Engine(lm, { maxRunning: 1, prefillChunk: chunk, maxBatchTokens: Math.max(512, chunk) });
  const handle = engine.submit({ prompt, maxTokens, sampling, stopTokenIds: values['ignore-eos'] ? [] : undefined });
  const printIds = values.ids || !codec;
  const stream = codec?.streamDecoder();
  const t0 = performance.now();
  let first = 0;
  let n = 0;
  for await (const t of handle) {
    if (n++ === 0) first = performance.now();
    process.stdout.write(printIds ? `${n > 1 ? ' ' : ''}${t.token}` : stream!.push(t.token));
  }
  if (!printIds) process.stdout.write(stream!.flush());
  process.stdout.write('\n');
  if (values.stats) {
    const end = performance.now();
    const decodeRate = n > 1 ? ((n - 1) / (end - first)) * 1000 : 0;
    const peak = process.resourceUsage().maxRSS / 1024; // KiB -> MiB
    process.stderr.write(`prompt ${prompt.length} tokens, ttft ${(first - t0).toFixed(1)} ms, ${n} new tokens, decode ${decodeRate.toFixed(1)} tok/s, peak RSS ${peak.toFixed(0)} MiB\n`);
  }
}
