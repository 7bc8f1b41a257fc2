/**
 * One eager batch-1 decode step of the real Nano shape (random weights) inside a profiler range, for Nsight
 * Compute: every kernel's own GPU time and DRAM bytes, without the launch gaps that the eager per-op profile adds.
 * Usage (GPU machine): ncu --profile-from-start off --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv \
 *   npx tsx bench/cuda-step-kernels.ts > kernels.csv
 */
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { randomModel } from '../src/backends/cuda/random-weights.js';

const b = new CudaBackend();
const { model } = randomModel(b);
b.kernels.loadAll();
const state = model.newState();
let ids = b.argmaxRows(model.forward([{ tokens: [20, 21, 22, 23], state }]) as never);
for (let i = 0; i < 3; i++) ids = b.argmaxRows(model.forward([{ tokens: [ids[0]], state }]) as never);
b.dev.sync();
b.dev.drv.cuProfilerStart?.();
ids = b.argmaxRows(model.forward([{ tokens: [ids[0]], state }]) as never);
b.dev.sync();
b.dev.drv.cuProfilerStop?.();
process.stderr.write(`profiled one decode step (token ${ids[0]})\n`);
