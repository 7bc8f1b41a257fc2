/**
 * Decode steps as CUDA graphs. `run(key, step)` runs one step (a model.forward call): the first call for a key
 * runs eagerly (compiles and loads kernels, builds expert tables, sizes the arena); the second is captured into a
 * graph and launched; later calls replay it: the step runs on the host in 'dry' mode (same arena addresses, new
 * metadata: token ids, cache lengths, state pointers), the metadata is copied up in one transfer, and the graph is
 * launched. A key must always name the same step shape (e.g. decode of B sequences, one token each).
 */
import type { CudaBackend } from './backend.js';
import { check, type Handle } from './ffi/driver.js';

interface Captured {
  exec: Handle;
  arenaBytes: number;
  metaBytes: number;
}

export class DecodeGraphs {
  private readonly graphs = new Map<string, Captured>();
  private readonly warmed = new Set<string>();
  readonly stats = { eager: 0, captured: 0, replayed: 0, timedReplays: 0, gpuMs: 0 };
  /** Events around each replay (metadata upload + graph), read at the next run: GPU time per replayed step. */
  timeGpu = false;
  private events: [Handle, Handle] | null = null;
  private timing = false;

  constructor(private readonly backend: CudaBackend) {}

  run<R>(key: string, step: () => R): R {
    const dev = this.backend.dev;
    if (dev.mode !== 'eager') throw new Error('DecodeGraphs.run: steps cannot nest');
    dev.sync(); // the previous step no longer reads the metadata buffer
    if (this.timing && this.events) {
      const ms: [number] = [0];
      check(dev.drv.cuEventElapsedTime(ms, this.events[0], this.events[1]), 'cuEventElapsedTime');
      this.stats.gpuMs += ms[0];
      this.stats.timedReplays++;
      this.timing = false;
    }
    const g = this.graphs.get(key);
    if (!g && !this.warmed.has(key)) {
      this.warmed.add(key);
      this.stats.eager++;
      return step();
    }
    if (!g) {
      this.backend.beginStep();
      dev.beginCapture();
      let r: R;
      try {
        r = step();
      } catch (e) {
        dev.abortCapture();
        throw e;
      }
      const exec = dev.endCapture();
      this.graphs.set(key, { exec, arenaBytes: dev.arena.usedBytes(), metaBytes: dev.meta.offset });
      this.stats.captured++;
      dev.meta.flush();
      dev.launchGraph(exec);
      return r;
    }
    dev.mode = 'dry';
    let r: R;
    try {
      r = step();
    } finally {
      dev.mode = 'eager';
    }
    if (dev.arena.usedBytes() !== g.arenaBytes || dev.meta.offset !== g.metaBytes) {
      throw new Error(`graph step "${key}" differs from the captured one (arena ${dev.arena.usedBytes()} vs ${g.arenaBytes} bytes, metadata ${dev.meta.offset} vs ${g.metaBytes})`);
    }
    this.stats.replayed++;
    if (this.timeGpu) {
      if (!this.events) this.events = [this.event(), this.event()];
      check(dev.drv.cuEventRecord(this.events[0], dev.stream), 'cuEventRecord');
    }
    dev.meta.flush();
    dev.launchGraph(g.exec);
    if (this.timeGpu) {
      check(dev.drv.cuEventRecord(this.events![1], dev.stream), 'cuEventRecord');
      this.timing = true;
    }
    return r;
  }

  private event(): Handle {
    const p: [Handle | null] = [null];
    check(this.backend.dev.drv.cuEventCreate(p, 0), 'cuEventCreate');
    return p[0]!;
  }

  /** Frees every captured graph. */
  clear(): void {
    for (const g of this.graphs.values()) this.backend.dev.destroyGraph(g.exec);
    this.graphs.clear();
    this.warmed.clear();
  }
}
