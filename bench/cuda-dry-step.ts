/**
 * The host's share of a replayed batch-1 decode step: the model's forward in dry mode (every op runs its host
 * logic and writes the step's metadata, no kernel is launched), which pipelined graph decoding runs for step i + 1
 * while the GPU replays step i. When it takes about as long as the GPU step, decoding is bound by the host.
 * Real Nano shape, random weights. Run under `node --cpu-prof` to see where the time goes. Not a test.
 * Usage (GPU machine): npx tsx bench/cuda-dry-step.ts [steps]
 */
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../src/backends/cuda/graph.js';
import { randomModel } from '../src/backends/cuda/random-weights.js';

const steps = Number(process.argv[2] ?? 120);
const b = new CudaBackend();
const { model } = randomModel(b);
b.kernels.loadAll();
const graphs = new DecodeGraphs(b);
const state = model.newState();
model.forward([{ tokens: [1, 2, 3, 4, 5, 6, 7, 8], state }]);
b.dev.sync();
const fwd = () => model.forward([{ tokens: [0], state }]) as never;
graphs.warmGreedy('dry', Int32Array.of(9), fwd); // eager, capture, first replay of each graph
// what DecodeGraphs' dry run does for a replay (the model's forward starts the step: arena and metadata reset)
const dry = () => {
  b.dev.mode = 'dry';
  try {
    fwd();
    b.flushPending();
  } finally {
    b.dev.mode = 'eager';
  }
};
for (let i = 0; i < 20; i++) dry(); // 8 + 6K (warm-up) + 20 + 120 + 100 tokens: within the first KV-cache allocation (256) up to K 1
const t0 = performance.now();
for (let i = 0; i < steps; i++) dry();
const ms = (performance.now() - t0) / steps;
const t1 = performance.now();
graphs.decodeGreedy('dry', Int32Array.of(9), 100, fwd);
const wall = (performance.now() - t1) / 100;
console.log(`${b.dev.info.name}: dry (host-only) batch-1 decode step ${ms.toFixed(3)} ms; pipelined graph decoding ${wall.toFixed(3)} ms per step (${(1000 / wall).toFixed(1)} tok/s)`);
model.freeState(state);
graphs.clear();
