/**
 * Helper threads for large matmuls: worker_threads that instantiate the same kernel module on the same shared
 * wasm memory. A matmul's outputs are cut into chunks that every thread (the caller included) takes from a
 * shared atomic counter, so a helper that the OS schedules late costs at most one chunk, not half the work
 * (the development machine is a shared 2-core VM). Waking a helper costs ~30 us there.
 * Shared state: `work` [0] next chunk, [1] kernel (0 float32, 1 BF16), [2..7] x w y n kb mb, [8] outputs,
 * [9] outputs per chunk, [10] weight row bytes; per helper `ctl` [0] job number (bumped + notified by the
 * caller), [1] last job done, [2] -1 to exit. Helpers are unref'd: they never keep the process alive. The worker
 * source is inline (eval) so that it loads the same way under tsx, vitest and the built package.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SRC = `
const { workerData } = require('node:worker_threads');
const { memory, module, ctl, work } = workerData;
const k = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
const fns = [k.mm4x1, k.mmb4x1];
const c = new Int32Array(ctl);
const wk = new Int32Array(work);
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (c[2] < 0) break;
  const f = fns[wk[1]];
  const m = wk[8], ch = wk[9], wr = wk[10];
  for (;;) {
    const o = Atomics.add(wk, 0, 1) * ch;
    if (o >= m) break;
    f(wk[2], wk[3] + o * wr, wk[4] + o * 4, wk[5], wk[6], wk[7], Math.min(ch, m - o));
  }
  Atomics.store(c, 1, seen);
  Atomics.notify(c, 1);
}
`;

export type MatmulFn = (x: number, w: number, y: number, n: number, kb: number, mb: number, m: number) => void;

export class MatmulPool {
  private readonly ctl: Int32Array[] = [];
  private readonly work = new Int32Array(new SharedArrayBuffer(16 * 4));
  private readonly workers: Worker[] = [];
  private job = 0;

  constructor(memory: object, module: object, helpers: number) {
    for (let i = 0; i < helpers; i++) {
      const sab = new SharedArrayBuffer(4 * 4);
      const worker = new Worker(WORKER_SRC, { eval: true, workerData: { memory, module, ctl: sab, work: this.work.buffer } });
      worker.unref();
      this.workers.push(worker);
      this.ctl.push(new Int32Array(sab));
    }
  }

  /** Helper threads to use: one per core beyond the first, at most 3; NEMOTRON_CPU_THREADS caps the total. */
  static helpersWanted(): number {
    const cap = Number(process.env.NEMOTRON_CPU_THREADS ?? 0);
    const cores = cap > 0 ? Math.min(cap, availableParallelism()) : availableParallelism();
    return Math.max(0, Math.min(cores - 1, 3));
  }

  get helpers(): number {
    return this.workers.length;
  }

  /**
   * The kernel `own` over m outputs (a multiple of 4), shared with the helpers; returns when all are done.
   * kind: 0 float32 weights, 1 BF16 (the helpers' kernel); wRowBytes: bytes per weight row.
   */
  matmul(kind: 0 | 1, own: MatmulFn, x: number, w: number, y: number, n: number, kb: number, mb: number, m: number, wRowBytes: number): void {
    const wk = this.work;
    const chunks = 4 * (this.ctl.length + 1);
    const ch = Math.max(4, (Math.ceil(m / chunks) + 3) & ~3);
    wk[1] = kind; wk[2] = x; wk[3] = w; wk[4] = y; wk[5] = n; wk[6] = kb; wk[7] = mb; wk[8] = m; wk[9] = ch; wk[10] = wRowBytes;
    Atomics.store(wk, 0, 0);
    const job = ++this.job;
    for (const c of this.ctl) {
      Atomics.store(c, 0, job);
      Atomics.notify(c, 0);
    }
    for (;;) {
      const o = Atomics.add(wk, 0, 1) * ch;
      if (o >= m) break;
      own(x, w + o * wRowBytes, y + o * 4, n, kb, mb, Math.min(ch, m - o));
    }
    // every helper must be done before `work` is reused (a late one finds no chunk left and returns at once)
    for (const c of this.ctl) {
      let done: number;
      while ((done = Atomics.load(c, 1)) !== job) Atomics.wait(c, 1, done);
    }
  }

  /** Stops the helpers. */
  close(): void {
    const job = ++this.job;
    for (const c of this.ctl) {
      c[2] = -1;
      Atomics.store(c, 0, job);
      Atomics.notify(c, 0);
    }
    for (const w of this.workers) void w.terminate();
  }
}
