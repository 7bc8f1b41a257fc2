/**
 * Decode steps as CUDA graphs. `run(key, step)` runs one step (a model.forward call): the first call for a key
 * runs eagerly (compiles and loads kernels, builds expert tables, sizes the arena); the second is captured into a
 * graph and launched; later calls replay it: the step runs on the host in 'dry' mode (same arena addresses, new
 * metadata: token ids, cache lengths, state pointers), the metadata is copied up in one transfer, and the graph is
 * launched. A key must always name the same step shape (e.g. decode of B sequences, one token each).
 *
 * `decodeGreedy` is the pipelined form for greedy decoding: the argmax is part of the graph and writes the next
 * step's input ids into a device buffer that the graph's embedding reads, so no token goes through the host
 * between steps. The host dry-runs and queues graphs up to PIPELINE_DEPTH ahead of the one it reads back (each
 * graph's metadata in its own pinned host area, its ids in its own pinned slot, taken in turn), so a host step that
 * takes longer than a GPU step (a GC pause) does not leave the GPU idle; the ids are read after an event. A graph may
 * hold several decode steps (graphSteps()).
 */
import type { CudaBackend } from './backend.js';
import { check, type Handle } from './ffi/driver.js';
import { getKoffi } from './ffi/load.js';
import type { DecodeSession, RowSampling } from '../../ops/ops.js';
import type { CudaTensor } from './tensor.js';

interface Captured {
  exec: Handle;
  arenaBytes: number;
  metaBytes: number;
}

/**
 * Steps decodeGreedy keeps queued on the GPU beyond the one whose ids it waits for. With one, a host step slower than
 * the GPU's (2.24 ms at batch 1 on an H200) idled the GPU: the same GPU time read 445 and 436 tok/s in two calls.
 */
const PIPELINE_DEPTH = 2;
/**
 * Decode steps per graph in decodeGreedy by default (graphSteps()): 2.224-2.225 against 2.240-2.241 ms of GPU time
 * per batch-1 step with one (bench/sweeps/s8-fuse.json on an H200; 4: 2.227, 16 and 32: the same as 8).
 */
const GRAPH_STEPS = 8;
const MAX_GRAPH_STEPS = 64;
/** Metadata areas and id slots in turn: the queued steps' and the one being written. */
const SLOTS = PIPELINE_DEPTH + 1;

/**
 * The size of a call's unit after one of `prev` steps (its n-th unit): 1, 1, 2, 3, 4, 6, 9, ... The GPU waits for
 * the host's dry run of the first unit only: each later unit's dry run (about 0.5 of a GPU step per step on an H200)
 * must end before the GPU has run the units queued before it, which a growth of 1.5 keeps and doubling did not (1.7
 * against 1.2 us per step of wall time over GPU time in the s8-fuse sweep).
 */
function nextUnit(prev: number, n: number): number {
  return n < 2 ? 1 : Math.max(prev + 1, Math.floor(prev * 1.5));
}

/** The ramp's units below K: 1, 1, 2, 3, 4, 6 for K = 8. */
function ramp(K: number): number[] {
  const units: number[] = [];
  for (let u = 1, n = 0; u < K; u = nextUnit(u, ++n)) units.push(u);
  return units;
}

/** Every unit size decodeGreedy may use with at most K steps per graph, largest first (the tail takes the largest that fits). */
function unitLadder(K: number): number[] {
  return [...new Set([K, ...ramp(K)])].sort((a, b) => b - a);
}

/** Pinned read-back slots of decodeGreedy (unit n's ids in slot n % SLOTS, `B` ids per slot) and their events. */
interface Ring {
  B: number;
  host: Handle;
  ids: Int32Array;
  start: Handle[];
  done: Handle[];
  timed: boolean[];
}

export class DecodeGraphs {
  private readonly graphs = new Map<string, Captured>();
  private readonly warmed = new Set<string>();
  readonly stats = { eager: 0, captured: 0, replayed: 0, timedReplays: 0, gpuMs: 0 };
  /** Events around each replay (metadata upload + graph), read at the next run: GPU time per replayed step. */
  timeGpu = false;
  private events: [Handle, Handle] | null = null;
  private timing = false;
  private readonly feeds = new Map<string, { ptr: number; size: number }>();
  private ring: Ring | null = null;

  constructor(private readonly backend: CudaBackend) {}

  run<R>(key: string, step: () => R): R {
    const dev = this.backend.dev;
    if (dev.mode !== 'eager') throw new Error('DecodeGraphs.run: steps cannot nest');
    dev.sync(); // the previous step no longer reads the metadata buffer
    this.readTiming();
    const g = this.graphs.get(key);
    if (!g && !this.warmed.has(key)) {
      this.warmed.add(key);
      this.stats.eager++;
      const r = step();
      this.backend.flushPending();
      return r;
    }
    if (!g) return this.capture(key, step);
    const r = this.dryRun(key, g, step);
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

  /**
   * Steps per graph in decodeGreedy (`NEMOTRON_CUDA_GRAPH_STEPS`, read at each call so that a sweep can compare
   * settings in one process; default GRAPH_STEPS).
   */
  graphSteps(): number {
    const env = process.env.NEMOTRON_CUDA_GRAPH_STEPS;
    if (env === undefined || env === '') return GRAPH_STEPS;
    const k = Number(env);
    if (!Number.isInteger(k) || k < 1 || k > MAX_GRAPH_STEPS) throw new Error(`NEMOTRON_CUDA_GRAPH_STEPS=${env}: expected an integer in [1, ${MAX_GRAPH_STEPS}]`);
    return k;
  }

  /**
   * decodeGreedy until every unit size of graphSteps() has run eagerly, been captured and replayed (3 calls of the
   * ramp's steps and K more: every size of the ramp, then K); returns the last step's ids. For benchmarks, before timing.
   */
  warmGreedy(key: string, first: Int32Array, forward: () => CudaTensor): Int32Array {
    let ids = first;
    for (let c = 0; c < 3; c++) ids = this.decodeGreedy(key, ids, this.warmSteps(), forward).at(-1)!;
    return ids;
  }

  /** The unit sizes decodeGreedy may capture a graph for with graphSteps(), largest first (one graph each per key). */
  unitSizes(): number[] {
    return unitLadder(this.graphSteps());
  }

  /** Steps of one warmGreedy call: the ramp to K (1, 1, 2, ...) and one unit of K. */
  warmSteps(): number {
    const K = this.graphSteps();
    return ramp(K).reduce((a, b) => a + b, K);
  }

  /**
   * Greedy decoding of `steps` tokens for a batch, pipelined (see the file comment). `first` holds each sequence's
   * input token of the first step; `forward()` runs one decode step of the batch (one token per sequence) and
   * returns its logits [B, V]: the token ids it passes to the model are placeholders (any in-range value), since
   * the embedding reads the ids from the device. Every step runs (the states advance by exactly `steps` tokens);
   * returns the sampled ids of each step ([steps][B]), the same as `run` + `argmaxRows` step by step.
   */
  decodeGreedy(key: string, first: Int32Array, steps: number, forward: () => CudaTensor): Int32Array[] {
    const s = this.session(key, first, steps, forward);
    const out: Int32Array[] = [];
    try {
      for (let ids = s.next(); ids.length; ids = s.next()) out.push(...ids);
    } finally {
      out.push(...s.end());
    }
    return out;
  }

  /**
   * A pipelined decode of up to `steps` steps for a batch, returned unit by unit (DecodeSession.next), so that
   * the caller can stream tokens and stop early (DecodeSession.end). `draw(step)` gives each row's sampling
   * settings of that step (called once per step, in order, on the host, ahead of the GPU); without it every row
   * is greedy (the argmax). `first`, `forward` as in decodeGreedy. Until `end()`, nothing else may use the backend.
   *
   * Steps go in units of up to graphSteps() (K) steps, one graph per unit: the unit's metadata goes up in one copy
   * and its ids come back in one copy, and inside the graph each step's first kernels start while the step before
   * ends. Units grow 1, 1, 2, 3, 4, 6, ... to K (each size its own graph; nextUnit); a key's first unit of a size
   * runs eagerly, its second is captured.
   */
  session(key: string, first: Int32Array, steps: number, forward: () => CudaTensor, draw: ((step: number) => readonly RowSampling[]) | null = null): DecodeSession {
    const backend = this.backend;
    const dev = backend.dev;
    if (dev.mode !== 'eager') throw new Error('DecodeGraphs.session: steps cannot nest');
    if (backend.tokenFeed) throw new Error('DecodeGraphs.session: another decode session is open');
    const B = first.length;
    const K = this.graphSteps();
    const mode = draw ? 'sample' : 'greedy';
    const feed = this.feedFor(`${mode}:${key}:${B}`, B);
    const hist = this.feedFor(`${mode}-ids:${B}:${K}`, K * B); // [K, B]: the ids of each step of a unit
    const ring = this.ringFor(K * B);
    dev.meta.ensureAreas(SLOTS); // before any step: making an area inside the loop would stall a replay
    dev.sync();
    this.readTiming();
    dev.upload(feed, first);
    backend.tokenFeed = { ptr: feed, n: B };
    /** A unit of u steps whose ids go to ring slot sl. */
    type Unit = { u: number; sl: number };
    const pending: Unit[] = []; // units queued on the GPU whose ids are not read yet, oldest first
    const ready: Int32Array[][] = []; // units read back, not returned yet
    let units = 0; // units queued so far: unit n takes metadata area and ring slot n % SLOTS
    let i = 0; // steps queued
    let prev = 0;
    let n = 0;
    let open = true;
    const ladder = unitLadder(K); // largest first
    const collect = ({ u, sl }: Unit): Int32Array[] => {
      check(dev.drv.cuEventSynchronize(ring.done[sl]), 'cuEventSynchronize');
      if (ring.timed[sl]) {
        const ms: [number] = [0];
        check(dev.drv.cuEventElapsedTime(ms, ring.start[sl], ring.done[sl]), 'cuEventElapsedTime');
        this.stats.gpuMs += ms[0];
        this.stats.timedReplays += u;
        ring.timed[sl] = false;
      }
      return Array.from({ length: u }, (_, k) => ring.ids.slice((sl * K + k) * B, (sl * K + k + 1) * B));
    };
    // after the unit's work on the stream: its sampled ids to its pinned slot, then the slot's event
    const readBack = (u: number): Unit => {
      const sl = units++ % SLOTS;
      check(dev.drv.cuMemcpyDtoHAsync(ring.host + BigInt(sl * K * B * 4), hist, u * B * 4, dev.stream), 'cuMemcpyDtoHAsync (sampled ids)');
      check(dev.drv.cuEventRecord(ring.done[sl], dev.stream), 'cuEventRecord');
      return { u, sl };
    };
    // u decode steps from step `at`, each step's ids into the feed (the next step's input) and into row k of hist
    const unit = (at: number, u: number) => () => {
      try {
        for (let k = 0; k < u; k++) {
          backend.keepMeta = k > 0;
          backend.kvAhead = u - 1 - k; // caches grow at the unit's first step only
          const logits = forward();
          const row = hist + k * B * 4;
          if (draw) {
            backend.sampleIntoDevice(logits, draw(at + k), row);
            backend.kernels.launch('copy2d_f32', [Math.ceil(B / 256), 1], 256, [row, B, feed, B, B]); // i32 ids, copied as 4-byte words
          } else backend.argmaxInto(logits, feed, row);
        }
      } finally {
        backend.keepMeta = false;
        backend.kvAhead = 0;
      }
    };
    const queue = () => {
      const cap = Math.min(nextUnit(prev, n++), steps - i);
      const u = ladder.find((x) => x <= cap)!;
      prev = u;
      const gkey = `${mode}:${key}:${B}:${u}`;
      const g = this.graphs.get(gkey);
      if (!g) {
        // eager warm-up or capture: not pipelined (eager launches share staging area 0 with the uploads)
        while (pending.length) ready.push(collect(pending.shift()!));
        dev.sync();
        dev.meta.selectArea(0);
        if (!this.warmed.has(gkey)) {
          this.warmed.add(gkey);
          this.stats.eager++;
          unit(i, u)();
        } else {
          this.capture(gkey, unit(i, u));
        }
        ready.push(collect(readBack(u)));
        i += u;
        return;
      }
      // the host area of the unit SLOTS units back was read by its upload, collected by now
      dev.meta.selectArea(units % SLOTS);
      this.dryRun(gkey, g, unit(i, u));
      const sl = units % SLOTS;
      if (this.timeGpu) check(dev.drv.cuEventRecord(ring.start[sl], dev.stream), 'cuEventRecord');
      dev.meta.flush();
      dev.launchGraph(g.exec);
      ring.timed[sl] = this.timeGpu;
      this.stats.replayed += u;
      pending.push(readBack(u));
      i += u;
    };
    const close = () => {
      if (!open) return;
      open = false;
      backend.tokenFeed = null;
      dev.sync();
      dev.meta.selectArea(0);
    };
    return {
      next: () => {
        if (!open) return [];
        try {
          // queue until PIPELINE_DEPTH units stay queued behind the oldest, then read the oldest
          while (!ready.length && (i < steps || pending.length)) {
            if (i < steps && pending.length <= PIPELINE_DEPTH) queue();
            else ready.push(collect(pending.shift()!));
          }
        } catch (e) {
          close();
          throw e;
        }
        return ready.shift() ?? [];
      },
      end: () => {
        if (!open) return [];
        try {
          while (pending.length) ready.push(collect(pending.shift()!));
        } finally {
          close();
        }
        return ready.splice(0).flat();
      },
    };
  }

  /** Captures `step` under `key` and launches the graph once (the step's first graph run). */
  private capture<R>(key: string, step: () => R): R {
    const dev = this.backend.dev;
    this.backend.beginStep();
    dev.beginCapture();
    let r: R;
    try {
      r = step();
      this.backend.flushPending(); // a deferred op of the step belongs in the graph
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

  /** Runs a captured step on the host only (new metadata in the staging area); checks that it matches the graph. */
  private dryRun<R>(key: string, g: Captured, step: () => R): R {
    const dev = this.backend.dev;
    dev.mode = 'dry';
    let r: R;
    try {
      r = step();
      this.backend.flushPending();
    } finally {
      dev.mode = 'eager';
    }
    if (dev.arena.usedBytes() !== g.arenaBytes || dev.meta.offset !== g.metaBytes) {
      throw new Error(`graph step "${key}" differs from the captured one (arena ${dev.arena.usedBytes()} vs ${g.arenaBytes} bytes, metadata ${dev.meta.offset} vs ${g.metaBytes})`);
    }
    return r;
  }

  /** A persistent device buffer of B input ids per graph key (its address is baked into the graph). */
  private feedFor(key: string, B: number): number {
    let f = this.feeds.get(key);
    if (!f) this.feeds.set(key, (f = this.backend.dev.pool.alloc(B * 4)));
    return f.ptr;
  }

  /** SLOTS pinned slots of B ids for the read-back, an event per slot, and start events for GPU timing. */
  private ringFor(B: number): Ring {
    if (this.ring && this.ring.B >= B) return this.ring;
    const drv = this.backend.dev.drv;
    const old = this.ring;
    if (old) check(drv.cuMemFreeHost(old.host), 'cuMemFreeHost');
    const p: [Handle | null] = [null];
    check(drv.cuMemHostAlloc(p, SLOTS * B * 4, 0), 'cuMemHostAlloc (sampled ids)');
    const events = () => Array.from({ length: SLOTS }, () => this.event());
    this.ring = {
      B, host: p[0]!, ids: new Int32Array(getKoffi().view(p[0]!, SLOTS * B * 4)),
      start: old?.start ?? events(), done: old?.done ?? events(), timed: Array<boolean>(SLOTS).fill(false),
    };
    return this.ring;
  }

  /** Adds the GPU time of the last `run` replay (after a sync). */
  private readTiming(): void {
    if (!this.timing || !this.events) return;
    const ms: [number] = [0];
    check(this.backend.dev.drv.cuEventElapsedTime(ms, this.events[0], this.events[1]), 'cuEventElapsedTime');
    this.stats.gpuMs += ms[0];
    this.stats.timedReplays++;
    this.timing = false;
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
    for (const f of this.feeds.values()) this.backend.dev.pool.release(f.ptr, f.size);
    this.feeds.clear();
  }
}
