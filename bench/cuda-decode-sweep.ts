/**
 * Batch-1 decode under tuning settings, in one process over one random-weights model of the real Nano shape:
 * each setting is a set of environment knobs that the CUDA ops read at launch time (a new DecodeGraphs captures
 * the step again), timed as `nemotron bench` times batch 1 (pipelined graph replays, GPU time per replay from
 * events). Knock-out rows (NEMOTRON_CUDA_DEBUG_SKIP) show what kernels cost inside the graph; their tokens are
 * garbage. Not a test; numbers go to BENCHMARKS.md.
 * Usage (GPU machine): npx tsx bench/cuda-decode-sweep.ts [steps] [settings.json]
 *   settings.json: [{ "name": "...", "env": { "NEMOTRON_CUDA_GEMV1_PRE": "1" } }, ...] (default: the list below)
 */
import { readFileSync } from 'node:fs';
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../src/backends/cuda/graph.js';
import { randomModel } from '../src/backends/cuda/random-weights.js';

interface Setting {
  name: string;
  env: Record<string, string>;
}

const steps = Number(process.argv[2] ?? 128);
const settings: Setting[] = process.argv[3]
  ? (JSON.parse(readFileSync(process.argv[3], 'utf8')) as Setting[])
  : [
      { name: 'default', env: {} },
      { name: 'no norm fusion', env: { NEMOTRON_CUDA_FUSE_NORM: '0' } },
      { name: 'pre 1', env: { NEMOTRON_CUDA_GEMV1_PRE: '1' } },
      { name: 'pre 2', env: { NEMOTRON_CUDA_GEMV1_PRE: '2' } },
      { name: '4 blocks/SM', env: { NEMOTRON_CUDA_GEMV1_PER_SM: '4' } },
      { name: '4 blocks/SM, pre 2', env: { NEMOTRON_CUDA_GEMV1_PER_SM: '4', NEMOTRON_CUDA_GEMV1_PRE: '2' } },
      { name: 'default (again)', env: {} },
    ];

const b = new CudaBackend();
const { model } = randomModel(b);
b.kernels.loadAll();
const knobs = new Set(settings.flatMap((s) => Object.keys(s.env)));
const lines = ['| setting | tok/s | GPU ms per step | launches per step | ids hash |', '|---|---|---|---|---|'];
for (const s of settings) {
  for (const k of knobs) delete process.env[k];
  Object.assign(process.env, s.env);
  const graphs = new DecodeGraphs(b);
  graphs.timeGpu = true;
  const state = model.newState();
  try {
    model.forward([{ tokens: [1, 2, 3, 4, 5, 6, 7, 8], state }]);
    b.dev.sync();
    const l0 = b.kernels.launches;
    const placeholder = [{ tokens: [0], state }];
    const fwd = () => model.forward(placeholder) as never;
    const toks = graphs.warmGreedy('sweep', Int32Array.of(9), fwd); // eager, capture, first replay of each graph
    const l1 = b.kernels.launches;
    const launched = 3 * graphs.warmSteps() - graphs.stats.replayed; // warm-up steps that launched kernels (eager, captured)
    const g0 = { ms: graphs.stats.gpuMs, n: graphs.stats.timedReplays };
    const t0 = performance.now();
    const out = graphs.decodeGreedy('sweep', toks, steps, fwd);
    const ms = performance.now() - t0;
    // FNV-1a of the decoded ids: settings that only move work around must decode the same tokens
    let h = 0x811c9dc5;
    for (const row of out) for (const t of row) h = Math.imul(h ^ t, 0x01000193) >>> 0;
    const gpu = (graphs.stats.gpuMs - g0.ms) / (graphs.stats.timedReplays - g0.n);
    lines.push(`| ${s.name} | ${((steps * 1000) / ms).toFixed(1)} | ${gpu.toFixed(3)} | ${((l1 - l0) / launched).toFixed(0)} | ${h.toString(16).padStart(8, '0')} |`);
    process.stderr.write(`${lines.at(-1)}\n`);
  } finally {
    model.freeState(state);
    graphs.clear();
  }
}
console.log(`${b.dev.info.name}: batch-1 decode, ${steps} steps per setting`);
console.log(lines.join('\n'));
