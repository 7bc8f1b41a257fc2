/**
 * Kernel lab: does an L2 persisting window (NEMOTRON_CUDA_L2_PERSIST_MB, ops/l2-persist.ts) keep part of the LM head
 * in L2 across decode steps? Each rep is the LM head's GEMV [131072, 2688] then a 1 GB device copy (a decode step's
 * other weights, which evict everything normal from L2); timed with events around the reps, the copy alone
 * subtracted. Without the window the GEMV reads all 704 MB from DRAM; with S MB persisting it should save about
 * S / 4.3 TB/s per call. Not a test; numbers go to BENCHMARKS.md.
 * Usage (GPU machine): npx tsx bench/cuda-l2-persist.ts [reps]
 */
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { check } from '../src/backends/cuda/ffi/driver.js';

const reps = Number(process.argv[2] ?? 50);
const b = new CudaBackend();
const dev = b.dev;
const ev = () => {
  const p: [bigint | null] = [null];
  check(dev.drv.cuEventCreate(p, 0), 'cuEventCreate');
  return p[0]!;
};
const [e0, e1] = [ev(), ev()];
function time(fn: () => void): number {
  fn();
  dev.sync();
  check(dev.drv.cuEventRecord(e0, dev.stream), 'cuEventRecord');
  for (let i = 0; i < reps; i++) fn();
  check(dev.drv.cuEventRecord(e1, dev.stream), 'cuEventRecord');
  dev.sync();
  const ms: [number] = [0];
  check(dev.drv.cuEventElapsedTime(ms, e0, e1), 'cuEventElapsedTime');
  return (ms[0] * 1000) / reps;
}
const [M, K] = [131072, 2688];
const w = b.randomTensor([M, K], 'bf16', -0.02, 0.02, 7);
const x = b.randomTensor([1, K], 'f32', -1, 1, 8);
const junk = 1 << 30;
const src = b.persistent([junk / 4]);
const dst = b.persistent([junk / 4]);
const copy = () => dev.copy(dst.ptr, src.ptr, junk);
const copyUs = time(copy);
const lines = [`${dev.info.name}: LM head GEMV [${M}, ${K}] (${((M * K * 2) / 1e6).toFixed(0)} MB) after a 1 GB copy (${copyUs.toFixed(1)} us alone)`, '| persisting MB | GEMV us per call | saved vs 0 |', '|---|---|---|'];
let base = 0;
for (const mb of [0, 8, 16, 24, 32, 0, 40]) {
  process.env.NEMOTRON_CUDA_L2_PERSIST_MB = String(mb);
  const us =
    time(() => {
      b.beginStep();
      b.matmul(x, w);
      b.flushPending();
      copy();
    }) - copyUs;
  if (mb === 0 && !base) base = us;
  lines.push(`| ${mb} | ${us.toFixed(2)} | ${(base - us).toFixed(2)} |`);
  process.stderr.write(`${lines.at(-1)}\n`);
}
console.log(lines.join('\n'));
