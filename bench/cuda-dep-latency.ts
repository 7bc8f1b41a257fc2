/**
 * Kernel lab: how long a kernel-to-kernel dependency takes to resolve inside one stream with programmatic
 * dependent launch. A producer grid (every block busy for a while) hands off to a consumer grid that waits either
 * with griddepcontrol.wait (the grid completes and its memory is flushed) or on a device counter that every producer
 * block adds 1 to after a threadfence. Prints the median time from the producer's last block end to the consumer's
 * first and last block wake (%globaltimer), and the event time per pair. Not a test; numbers go to BENCHMARKS.md.
 * Usage (GPU machine): npx tsx bench/cuda-dep-latency.ts [reps]
 */
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { check } from '../src/backends/cuda/ffi/driver.js';

const reps = Number(process.argv[2] ?? 200);
const b = new CudaBackend();
const dev = b.dev;
const sms = dev.info.multiprocessors;
const ev = () => {
  const p: [bigint | null] = [null];
  check(dev.drv.cuEventCreate(p, 0), 'cuEventCreate');
  return p[0]!;
};
const [e0, e1] = [ev(), ev()];
const tBuf = dev.rawAlloc(reps * 32);
const cBuf = dev.rawAlloc(reps * 4);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

function run(prodBlocks: number, consBlocks: number, flag: boolean, early: boolean, ns: number) {
  const init = new BigUint64Array(reps * 4);
  for (let i = 0; i < reps; i++) init[4 * i + 1] = 0xffffffffffffffffn;
  dev.upload(tBuf, init);
  dev.fill32(cBuf, 0, reps);
  dev.sync();
  check(dev.drv.cuEventRecord(e0, dev.stream), 'cuEventRecord');
  for (let i = 0; i < reps; i++) {
    const t = tBuf + 32 * i, c = cBuf + 4 * i;
    b.kernels.launch('lab_dep_producer', prodBlocks, 128, [flag ? c : null, t, ns, early ? 1 : 0]);
    b.kernels.launch('lab_dep_consumer', consBlocks, 128, [flag ? c : null, prodBlocks, t]);
  }
  check(dev.drv.cuEventRecord(e1, dev.stream), 'cuEventRecord');
  dev.sync();
  const ms: [number] = [0];
  check(dev.drv.cuEventElapsedTime(ms, e0, e1), 'cuEventElapsedTime');
  const out = new BigUint64Array(reps * 4);
  dev.download(out, tBuf);
  const first: number[] = [], last: number[] = [];
  for (let i = 1; i < reps; i++) {
    first.push(Number(out[4 * i + 1] - out[4 * i]) / 1000);
    last.push(Number(out[4 * i + 2] - out[4 * i]) / 1000);
  }
  return { first: median(first), last: median(last), pair: (ms[0] * 1000) / reps };
}

const rows = ['| producer blocks | consumer blocks | trigger | wait | first wake us | last wake us | us per pair |', '|---|---|---|---|---|---|---|'];
for (const [pb, cb] of [[sms, sms], [sms * 4, sms * 4], [sms * 8, sms * 2], [sms * 2, 1]]) {
  for (const early of [true, false]) {
    for (const flag of [false, true]) {
      run(pb, cb, flag, early, 20000);
      const r = run(pb, cb, flag, early, 20000);
      rows.push(`| ${pb} | ${cb} | ${early ? 'start' : 'after wait'} | ${flag ? 'counter' : 'griddepcontrol'} | ${r.first.toFixed(2)} | ${r.last.toFixed(2)} | ${r.pair.toFixed(2)} |`);
    }
  }
}
console.log(rows.join('\n'));
