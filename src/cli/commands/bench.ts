/**
 * `nemotron bench`: decode tok/s at several batch sizes, prefill tok/s and TTFT, on the CUDA backend (CUDA graphs
 * for decode) or a CPU one, with a real checkpoint or random weights of the real Nano shape made on the GPU.
 * Prints a table; with --hf it adds HF transformers' numbers (scripts/cuda/hf_bench.py) measured on the same device.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CudaBackend } from '../../backends/cuda/backend.js';
import { Engine } from '../../engine/engine.js';
import { loadModel } from '../../loaders/load-model.js';
import type { NemotronH, SequenceInput } from '../../models/nemotron-h.js';
import type { Tensor } from '../../ops/ops.js';
import { selectBackend } from '../../runtime/select.js';
import { idsFlag, numberFlag, UsageError } from '../args.js';

export const usage = `nemotron bench (--random-weights | --model DIR) [options]
  --backend NAME         cuda (default), cpu-simd, cpu-fast or cpu-ref
  --batches LIST         decode batch sizes (default 1,8,64,256)
  --decode-tokens N      timed decode steps per batch size (default 32; batch 1 runs 8x, batch >= 256 half)
  --prompt N             prompt tokens per sequence before decoding (default 32)
  --prefill LIST         prompt lengths for prefill tok/s and TTFT (default 1024,8192)
  --no-graph             decode without CUDA graphs
  --profile              per-op GPU times (eager) of a batch-1 decode step and of the longest prefill
  --activations MODE     cuda GEMM activations: f32 (float32-accurate, two bf16 passes; default) or bf16 (as HF)
  --hf FILE              HF transformers results (scripts/cuda/hf_bench.py) for a side-by-side column
  --json FILE            also write the results as JSON`;

/** Bytes of BF16 weights a decoded token reads on the real Nano (model-spec 8) and the 4.3 TB/s copy rate. */
const NANO_BYTES_PER_TOKEN = 6.456e9;
const H200_COPY_BW = 4.3e12;

interface Row {
  key: string;
  label: string;
  value: number;
  unit: string;
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' }, 'random-weights': { type: 'boolean' }, backend: { type: 'string' },
      batches: { type: 'string' }, 'decode-tokens': { type: 'string' }, prompt: { type: 'string' }, prefill: { type: 'string' },
      'no-graph': { type: 'boolean' }, profile: { type: 'boolean' }, activations: { type: 'string' }, hf: { type: 'string' }, json: { type: 'string' },
    },
  });
  if (!values.model === !values['random-weights']) throw new UsageError(`give exactly one of --model or --random-weights\n${usage}`);
  const backendName = values.backend ?? 'cuda';
  const batches = values.batches ? idsFlag(values.batches, 'batches') : [1, 8, 64, 256];
  const prefills = values.prefill ? idsFlag(values.prefill, 'prefill') : [1024, 8192];
  const decodeTokens = numberFlag(values, 'decode-tokens', { int: true, min: 1 }) ?? 32;
  const promptLen = numberFlag(values, 'prompt', { int: true, min: 1 }) ?? 32;
  const useGraph = backendName === 'cuda' && !values['no-graph'];

  const t0 = performance.now();
  const act = values.activations ?? 'f32';
  if (act !== 'f32' && act !== 'bf16') throw new UsageError(`--activations must be f32 or bf16, got "${act}"`);
  const ops = selectBackend(backendName, { precise: act === 'f32' });
  const cuda = backendName === 'cuda' ? (ops as unknown as CudaBackend) : null;
  let model: NemotronH<Tensor>;
  let what: string;
  if (values['random-weights']) {
    if (!cuda) throw new UsageError('--random-weights needs --backend cuda (the weights are made on the GPU)');
    const { randomModel } = await import('../../backends/cuda/random-weights.js');
    const r = randomModel(cuda);
    model = r.model as unknown as NemotronH<Tensor>;
    what = `random weights of the real Nano shape (${(r.params / 1e9).toFixed(3)} B parameters, ${(r.bytes / 1e9).toFixed(1)} GB)`;
  } else {
    model = loadModel(values.model!, ops).model;
    what = values.model!;
  }
  if (cuda) cuda.kernels.loadAll();
  const setupMs = performance.now() - t0;
  const graphs = useGraph ? new (await import('../../backends/cuda/graph.js')).DecodeGraphs(cuda!) : null;
  if (graphs) graphs.timeGpu = true;
  const vocab = model.config.vocabSize;
  const argmax = (logits: Tensor): Int32Array => {
    if (cuda) return cuda.argmaxRows(logits as never);
    const data = ops.toFloat32(logits);
    const rows = data.length / vocab;
    return Int32Array.from({ length: rows }, (_, r) => {
      let best = 0;
      for (let j = 1; j < vocab; j++) if (data[r * vocab + j] > data[r * vocab + best]) best = j;
      return best;
    });
  };
  let seed = 12345;
  const randomIds = (n: number) => Array.from({ length: n }, () => 16 + ((seed = (seed * 1103515245 + 12345) >>> 0) % (vocab - 16)));

  const rows: Row[] = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`bench: ${ops.name} (${act} GEMM activations), ${what}; setup ${(setupMs / 1000).toFixed(1)} s`);

  // prefill: one sequence, one forward over the whole prompt, then the first token (TTFT)
  const prefill = (len: number) => {
    const state = model.newState();
    try {
      const tokens = randomIds(len);
      const a = performance.now();
      argmax(model.forward([{ tokens, state }]));
      return performance.now() - a;
    } finally {
      model.freeState(state);
    }
  };
  for (const len of prefills) {
    prefill(len); // warm-up at this length: cuBLAS heuristics and arena growth for its shapes happen once per process
    const ms = prefill(len);
    rows.push({ key: `prefill_${len}`, label: `prefill, ${len}-token prompt`, value: (len / ms) * 1000, unit: 'tok/s' });
    rows.push({ key: `ttft_${len}`, label: `TTFT, ${len}-token prompt`, value: ms, unit: 'ms' });
    log(`prefill ${len}: ${ms.toFixed(1)} ms`);
  }

  // decode: B sequences, each prefilled with `promptLen` tokens, then greedy steps of one token per sequence.
  // 'pipelined': CUDA graphs with the argmax and token feed on the device, step n+1 queued while step n runs
  // (DecodeGraphs.decodeGreedy); 'graph': one graph replay per step, argmax read back before the next (run());
  // 'eager': no graph.
  type DecodeMode = 'pipelined' | 'graph' | 'eager';
  const decode = (B: number, steps: number, mode: DecodeMode, onTimed?: () => void) => {
    const graph = mode !== 'eager';
    const states = Array.from({ length: B }, () => model.newState());
    try {
      let toks = argmax(model.forward(states.map((state) => ({ tokens: randomIds(promptLen), state }))));
      if (mode === 'pipelined') {
        const placeholder = states.map((state) => ({ tokens: [0], state })); // the graph reads the ids on the device
        const fwd = () => model.forward(placeholder) as never;
        toks = graphs!.warmGreedy(`decode-${B}`, toks, fwd); // eager warm-up, capture, first replay of each graph
        // and a quarter of the timed steps untimed: the host's per-step code (the dry run) reaches its optimised
        // form. On an H200 the first 1,024-step call in a process ran 6-15 us per step over the GPU time where the
        // later ones ran 2-4 (bench/cuda-decode-sweep.ts, session 10)
        toks = graphs!.decodeGreedy(`decode-${B}`, toks, Math.max(1, Math.floor(steps / 4)), fwd).at(-1)!;
        onTimed?.();
        const a = performance.now();
        graphs!.decodeGreedy(`decode-${B}`, toks, steps, fwd);
        return (B * steps * 1000) / (performance.now() - a);
      }
      const step = () => {
        const batch: SequenceInput<Tensor>[] = states.map((state, i) => ({ tokens: [toks[i]], state }));
        const logits = graph ? graphs!.run(`decode-${B}`, () => model.forward(batch)) : model.forward(batch);
        toks = argmax(logits);
      };
      for (let i = 0; i < 3; i++) step(); // eager warm-up, capture, first replay
      onTimed?.();
      const a = performance.now();
      for (let i = 0; i < steps; i++) step();
      const ms = performance.now() - a;
      return (B * steps * 1000) / ms;
    } finally {
      for (const s of states) model.freeState(s);
    }
  };
  for (const B of batches) {
    // batch 1 is the headline and a step is only ~2.4 ms on an H200: 8x the steps (256 by default), so one GC pause or
    // a slow first step does not move it (64 steps read 405 tok/s where 1,024 read 417 at the same GPU time)
    const steps = Math.max(4, Math.round(decodeTokens * (B === 1 ? 8 : B >= 256 ? 0.5 : 1)));
    let gpu0 = { ms: 0, n: 0 };
    const tps = decode(B, steps, useGraph ? 'pipelined' : 'eager', () => (gpu0 = graphs ? { ms: graphs.stats.gpuMs, n: graphs.stats.timedReplays } : gpu0));
    rows.push({ key: `decode_b${B}`, label: `decode, batch ${B}${useGraph ? ' (CUDA graph, pipelined)' : ''}`, value: tps, unit: 'tok/s' });
    log(`decode batch ${B}: ${tps.toFixed(1)} tok/s over ${steps} steps (${((B * 1000) / tps).toFixed(2)} ms per step)`);
    if (graphs) {
      const n = graphs.stats.timedReplays - gpu0.n;
      const gpuMs = n ? (graphs.stats.gpuMs - gpu0.ms) / n : NaN;
      rows.push({ key: `decode_b${B}_gpu_ms`, label: `  GPU time per step, batch ${B} (graph replay)`, value: gpuMs, unit: 'ms' });
      log(`  graph replay GPU time ${gpuMs.toFixed(2)} ms per step (${n} replays timed)`);
    }
    if (B === 1 && useGraph) {
      const sync = decode(1, steps, 'graph');
      rows.push({ key: 'decode_b1_graph_sync', label: 'decode, batch 1 (CUDA graph, host argmax between steps)', value: sync, unit: 'tok/s' });
      log(`decode batch 1, graph replay with host round trip per step: ${sync.toFixed(1)} tok/s`);
      const eagerSteps = Math.max(4, decodeTokens);
      let l0 = 0;
      const eager = decode(1, eagerSteps, 'eager', () => (l0 = cuda!.kernels.launches));
      const perStep = (cuda!.kernels.launches - l0) / eagerSteps;
      rows.push({ key: 'decode_b1_eager', label: 'decode, batch 1 (no graph)', value: eager, unit: 'tok/s' });
      rows.push({ key: 'decode_b1_kernels', label: '  kernel launches per batch-1 decode step (argmax included)', value: perStep, unit: 'launches' });
      log(`decode batch 1 without graphs: ${eager.toFixed(1)} tok/s (${perStep.toFixed(0)} kernel launches per step)`);
    }
    if ((B === 1 || B === 8) && cuda) {
      const tps = await engineDecode(model, B, promptLen, steps, randomIds);
      rows.push({ key: `decode_b${B}_engine`, label: `decode, batch ${B} (engine: the \`nemotron serve\` path)`, value: tps, unit: 'tok/s' });
      log(`decode batch ${B} through the engine: ${tps.toFixed(1)} tok/s`);
    }
  }
  if (values.profile && cuda) {
    const prof = cuda.enableProfiling();
    decode(1, 8, 'eager', () => prof.reset());
    log(`\nper-op GPU time, batch-1 decode step (eager):\n${prof.report(8)}`);
    prof.reset();
    const plen = prefills.length ? Math.max(...prefills) : 1024;
    prefill(plen);
    log(`\nper-op GPU time, ${plen}-token prefill (eager):\n${prof.report(1)}\n`);
    cuda.profiler = null;
  }
  const b1 = rows.find((r) => r.key === 'decode_b1');
  if (b1 && values['random-weights']) {
    const bound = H200_COPY_BW / NANO_BYTES_PER_TOKEN;
    rows.push({ key: 'bandwidth_b1', label: `batch-1 weight bandwidth (% of the ${bound.toFixed(0)} tok/s bound)`, value: (b1.value / bound) * 100, unit: '%' });
  }

  // peak memory: host RSS of this process; on CUDA, device memory in use at the end (weights, states, pools)
  rows.push({ key: 'peak_rss_mib', label: 'peak host memory (RSS)', value: process.resourceUsage().maxRSS / 1024, unit: 'MiB' });
  if (cuda) {
    const m = cuda.dev.memInfo();
    rows.push({ key: 'gpu_used_gib', label: 'GPU memory in use', value: (m.total - m.free) / 2 ** 30, unit: 'GiB' });
  }

  const hf = values.hf ? (JSON.parse(readFileSync(values.hf, 'utf8')) as { results?: Record<string, number>; device?: string; error?: string }) : null;
  const dev = cuda ? `${cuda.dev.info.name}, sm_${cuda.dev.info.computeCapability}, ${cuda.dev.info.multiprocessors} SMs, driver ${cuda.dev.info.driverVersion}` : ops.name;
  const fmt = (v: number | undefined, unit: string) => (v === undefined || !Number.isFinite(v) ? '-' : unit === 'ms' || unit === '%' ? v.toFixed(1) : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lines = [
    `nemotron bench: ${dev}; ${what}`,
    `graphs: ${graphs ? `yes (${graphs.stats.captured} captured, ${graphs.stats.replayed} replays)` : 'no'}${hf?.error ? `; HF run failed: ${hf.error}` : ''}`,
    '',
    `| measure | unit | nemotron-ts | HF transformers | ratio |`,
    `|---|---|---|---|---|`,
    ...rows.map((r) => {
      const h = hf?.results?.[r.key];
      const ratio = h && Number.isFinite(h) ? (r.unit === 'ms' ? h / r.value : r.value / h) : undefined;
      return `| ${r.label} | ${r.unit} | ${fmt(r.value, r.unit)} | ${fmt(h, r.unit)} | ${ratio ? `${ratio.toFixed(1)}x` : '-'} |`;
    }),
  ];
  console.log(lines.join('\n'));
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ device: dev, model: what, graphs: graphs?.stats ?? null, results: Object.fromEntries(rows.map((r) => [r.key, r.value])), hf: hf ?? null, date: new Date().toISOString() }, null, 2));
  }
}

/**
 * Greedy decode of B concurrent requests through the engine, as `nemotron serve` runs them (on CUDA: pipelined graph
 * sessions, Ops.decodeSession): tokens per second after every request has its first token (the prefill's) until the
 * last token. Two rounds first, so that every graph size of a session has been captured.
 */
async function engineDecode(model: NemotronH<Tensor>, B: number, promptLen: number, steps: number, randomIds: (n: number) => number[]): Promise<number> {
  const engine = new Engine({ model, generation: { eosTokenIds: [], bosTokenId: null, padTokenId: null } }, { maxModelLen: promptLen + steps + 1, maxRunning: Math.max(16, B) });
  const round = async (maxTokens: number) => {
    let firsts = 0;
    let start = 0;
    let end = 0;
    let tokens = 0;
    await Promise.all(
      Array.from({ length: B }, async () => {
        let n = 0;
        for await (const _ of engine.submit({ prompt: randomIds(promptLen), maxTokens, sampling: { temperature: 0 }, stopTokenIds: [] })) {
          end = performance.now();
          if (n++ === 0) {
            if (++firsts === B) start = end; // decoding of the whole batch starts here
          } else if (firsts === B) tokens++;
        }
      }),
    );
    return (tokens * 1000) / (end - start);
  };
  for (let i = 0; i < 2; i++) await round(Math.min(steps + 1, 64));
  return round(steps + 1);
}
