import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CudaBackend } from '../../src/backends/cuda/backend.js';
import { getKoffi } from '../../src/backends/cuda/ffi/load.js';
import { DecodeGraphs } from '../../src/backends/cuda/graph.js';

// Device-independent check of DecodeGraphs.decodeGreedy's bookkeeping (runs on every machine): a fake device whose
// graphs replay the recorded operations. A "model" reads its input ids from the token feed and its "argmax" writes
// next(id) back: the ids read back must be the chain next(first), next(next(first)), ... step by step, through the
// eager warm-up, the capture and the replays.

const next = (t: number) => (t * 31 + 7) % 1000;

/** NEMOTRON_CUDA_GRAPH_STEPS = `value` for each test of the enclosing describe, restored after it. */
function useGraphSteps(value: string): void {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.NEMOTRON_CUDA_GRAPH_STEPS;
    process.env.NEMOTRON_CUDA_GRAPH_STEPS = value;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.NEMOTRON_CUDA_GRAPH_STEPS;
    else process.env.NEMOTRON_CUDA_GRAPH_STEPS = saved;
  });
}

/**
 * A fake device for DecodeGraphs. `deferred` false: the stream runs each operation when it is issued. `deferred`
 * true: it runs them only when the host waits (an event or a sync), as a GPU running behind the host does. Staging
 * areas are modelled: a step's metadata upload reads its host area when the upload runs, not when it is queued.
 * Each executed step records the metadata it saw (`seen`): a host area written again while a queued upload still
 * has to read it shows up as a step that saw another step's metadata.
 */
function fakeBackend(deferred: boolean) {
  const k = getKoffi();
  const mem = new Map<number, Int32Array>(); // device buffers by address
  let nextAddr = 0x1000;
  let nextHandle = 1n;
  const graphs = new Map<bigint, (() => void)[]>();
  let recording: (() => void)[] | null = null;
  const log: string[] = [];
  const queue: (() => void)[] = [];
  const drain = (until?: () => boolean) => {
    while (queue.length && !(until && until())) queue.shift()!();
  };
  /** Puts an operation on the stream (and runs it now when the stream is not deferred). */
  const enqueue = (...ops: (() => void)[]) => {
    queue.push(...ops);
    if (!deferred) drain();
  };
  const recorded = new Map<bigint, number>(); // event -> the number of its last record call
  const completed = new Map<bigint, number>(); // event -> the record that has run
  let records = 0;
  const hostViews = new Map<bigint, Int32Array>();
  const AREA = 64; // metadata words per area
  const areas: Int32Array[] = [new Int32Array(AREA)];
  let area = 0;
  let devMeta = new Int32Array(AREA).fill(-1);
  const seen: number[] = []; // the metadata each executed step read, in execution order
  /** An operation of a step: on the stream (eager), into the graph (capture), or dropped (dry: the graph does it). */
  const issue = (op: () => void) => {
    if (dev.mode === 'eager') enqueue(op);
    else if (dev.mode === 'capture') recording!.push(op);
  };
  const drv = {
    cuEventCreate: (p: [bigint | null]) => ((p[0] = nextHandle++), 0),
    cuEventRecord: (e: bigint) => {
      const n = ++records;
      recorded.set(e, n);
      enqueue(() => completed.set(e, n));
      return 0;
    },
    cuEventSynchronize: (e: bigint) => (drain(() => completed.get(e) === recorded.get(e)), 0),
    cuEventElapsedTime: (ms: [number]) => ((ms[0] = 1), 0),
    cuMemHostAlloc: (p: [bigint | null], bytes: number) => {
      const ptr = k.alloc('uint8_t', bytes) as unknown as bigint;
      hostViews.set(ptr, new Int32Array(k.view(ptr, bytes)));
      p[0] = ptr;
      return 0;
    },
    cuMemFreeHost: () => 0,
    cuMemcpyDtoHAsync: (dst: bigint, src: number, bytes: number) => {
      if (!mem.has(src)) throw new Error(`read-back from ${src}, not a buffer's start`);
      enqueue(() => {
        for (const [base, view] of hostViews) {
          const off = Number(dst - base);
          if (off >= 0 && off < view.byteLength) view.set(mem.get(src)!.subarray(0, bytes / 4), off / 4);
        }
        log.push('readback');
      });
      return 0;
    },
  };
  const meta = {
    offset: 0,
    ensureAreas: (n: number) => {
      log.push('areas');
      while (areas.length < n) areas.push(new Int32Array(AREA));
    },
    selectArea: (i: number) => {
      log.push(`area ${i}`);
      while (areas.length <= i) areas.push(new Int32Array(AREA));
      area = i;
    },
    /** The step's metadata (here one number) into the current host area at the next offset; returns the offset. */
    write: (v: number) => {
      areas[area][meta.offset] = v;
      return meta.offset++;
    },
    flush: () => {
      const a = areas[area];
      enqueue(() => (devMeta = a.slice())); // the host area as it is when the upload runs
    },
    reset: () => (meta.offset = 0),
  };
  const dev = {
    mode: 'eager' as 'eager' | 'capture' | 'dry',
    drv,
    stream: 0n,
    arena: { usedBytes: () => 0 },
    meta,
    pool: { alloc: (bytes: number) => ({ ptr: nextAddr, size: (mem.set(nextAddr, new Int32Array(bytes / 4)), (nextAddr += 0x1000), bytes) }), release: () => {} },
    sync: () => drain(),
    upload: (dst: number, src: Int32Array) => {
      const copy = src.slice();
      enqueue(() => mem.get(dst)!.set(copy));
    },
    beginCapture: () => ((dev.mode = 'capture'), (recording = [])),
    endCapture: () => {
      dev.mode = 'eager';
      const h = nextHandle++;
      graphs.set(h, recording!);
      return h;
    },
    abortCapture: () => (dev.mode = 'eager'),
    launchGraph: (h: bigint) => {
      log.push('graph');
      enqueue(...graphs.get(h)!);
    },
    destroyGraph: () => {},
  };
  /** The buffer holding device address `addr` and the word index of `addr` in it. */
  const word = (addr: number): [Int32Array, number] => {
    for (const [base, buf] of mem) if (addr >= base && addr < base + buf.byteLength) return [buf, (addr - base) / 4];
    throw new Error(`no device buffer at ${addr}`);
  };
  let inputs: Int32Array = new Int32Array(0);
  let tag = 0;
  const ahead: number[] = []; // kvAhead at each forward (host side: eager, capture and dry runs)
  const backend = {
    dev,
    tokenFeed: null as { ptr: number; n: number } | null,
    kvAhead: 0,
    keepMeta: false,
    beginStep: () => {
      if (!backend.keepMeta) meta.reset();
    },
    flushPending: () => {},
    argmaxInto: (_x: unknown, out: number, copy = 0) =>
      issue(() => {
        const ids = inputs.map(next);
        mem.get(out)!.set(ids);
        if (copy) {
          const [buf, w] = word(copy);
          buf.set(ids, w);
        }
      }),
    /** The sampling kernel: row r draws next(input) + 1000 * its setting's temperature (as an integer tag). */
    sampleIntoDevice: (_x: unknown, rows: readonly { temperature: number }[], out: number) => {
      const at = rows.map((r) => meta.write(r.temperature)); // the settings are step metadata, as sampleInto stages them
      if (dev.mode === 'eager') meta.flush();
      issue(() => {
        const [buf, w] = word(out);
        buf.set(inputs.map((t, r) => next(t) + 1000 * devMeta[at[r]]), w);
      });
    },
    kernels: {
      launch: (name: string, _grid: unknown, _block: number, args: number[]) => {
        if (name !== 'copy2d_f32') throw new Error(`unexpected kernel ${name}`);
        const [src, , dst, , n] = args;
        issue(() => {
          const [sb, sw] = word(src);
          const [db, dw] = word(dst);
          db.set(sb.slice(sw, sw + n), dw);
        });
      },
    },
  };
  /** One decode step: new metadata on the host (a step counter), and kernels that read it and the fed ids. */
  const forward = () => {
    backend.beginStep(); // as the model does
    ahead.push(backend.kvAhead);
    const feed = backend.tokenFeed!;
    const at = meta.write(tag++);
    if (dev.mode === 'eager') meta.flush(); // eager launches upload first (Kernels.launch)
    issue(() => {
      seen.push(devMeta[at]);
      inputs = mem.get(feed.ptr)!.slice(0, feed.n);
    });
    return null as never;
  };
  return { backend: backend as unknown as CudaBackend, forward, log, seen, ahead, queued: () => queue.length };
}

describe('DecodeGraphs.decodeGreedy bookkeeping (fake device)', () => {
  useGraphSteps('1'); // one step per graph unless a test sets another count (the default is 8)

  it('feeds each step the ids the previous one sampled, and reads them back in step order', () => {
    const { backend, forward, log, seen } = fakeBackend(false);
    const graphs = new DecodeGraphs(backend);
    const first = Int32Array.from([1, 2, 3]);
    const a = graphs.decodeGreedy('d', first, 7, forward);
    const want: number[][] = [];
    let cur = Array.from(first);
    for (let i = 0; i < 12; i++) want.push((cur = cur.map(next)));
    expect(a.map((r) => Array.from(r))).toEqual(want.slice(0, 7));
    expect(graphs.stats).toMatchObject({ eager: 1, captured: 1, replayed: 5 });
    // a second call starts from the given ids with no warm-up; replays take the three staging areas in turn from 0
    const b = graphs.decodeGreedy('d', a[6], 5, forward);
    expect(b.map((r) => Array.from(r))).toEqual(want.slice(7, 12));
    expect(graphs.stats).toMatchObject({ eager: 1, captured: 1, replayed: 10 });
    expect(log.filter((l) => l === 'areas').length).toBe(2); // the areas made before each call's steps
    const areas = log.filter((l) => l.startsWith('area '));
    expect(areas.slice(-6)).toEqual(['area 0', 'area 1', 'area 2', 'area 0', 'area 1', 'area 0']);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // another batch size is another graph
    const c = graphs.decodeGreedy('d', Int32Array.from([5]), 3, forward);
    expect(c.map((r) => r[0])).toEqual([next(5), next(next(5)), next(next(next(5)))]);
    expect(graphs.stats.captured).toBe(2);
  });

  it('on a stream that runs behind the host: every step sees its own metadata and the previous step\'s ids', () => {
    const { backend, forward, seen, queued } = fakeBackend(true);
    const graphs = new DecodeGraphs(backend);
    const first = Int32Array.from([4, 9]);
    const a = graphs.decodeGreedy('d', first, 9, forward);
    const b = graphs.decodeGreedy('d', a[8], 6, forward);
    const want: number[][] = [];
    let cur = Array.from(first);
    for (let i = 0; i < 15; i++) want.push((cur = cur.map(next)));
    expect([...a, ...b].map((r) => Array.from(r))).toEqual(want);
    expect(seen).toEqual(Array.from({ length: 15 }, (_, i) => i)); // eager, capture run, 13 replays
    expect(queued()).toBe(0); // each call ends with the stream drained
  });

  describe('several steps per graph (NEMOTRON_CUDA_GRAPH_STEPS=3)', () => {
    useGraphSteps('3');

    it.each([false, true])('units of 1, 1, 2, 3, 3, ... steps and a tail (stream behind the host: %s)', (deferred) => {
      const { backend, forward, seen, ahead, queued } = fakeBackend(deferred);
      const graphs = new DecodeGraphs(backend);
      const first = Int32Array.from([4, 9]);
      // 8 = units of 1 (eager), 1 (captured), 2 (eager), 3 (eager), 1 (replayed: the tail);
      // 13 = 1, 1 (replayed), 2, 3 (captured), 3, 3 (replayed)
      const a = graphs.decodeGreedy('d', first, 8, forward);
      expect(graphs.stats).toMatchObject({ eager: 3, captured: 1, replayed: 1 });
      const b = graphs.decodeGreedy('d', a[7], 13, forward);
      expect(graphs.stats).toMatchObject({ eager: 3, captured: 3, replayed: 1 + 2 + 3 + 3 });
      const want: number[][] = [];
      let cur = Array.from(first);
      for (let i = 0; i < 21; i++) want.push((cur = cur.map(next)));
      expect([...a, ...b].map((r) => Array.from(r))).toEqual(want);
      // each step read its own metadata, though a unit's steps wrote theirs into one area before one upload
      expect(seen).toEqual(Array.from({ length: 21 }, (_, i) => i));
      // host forwards of each unit (eager, capture or dry): caches reserve ahead for the rest of their unit
      const unit = (u: number) => Array.from({ length: u }, (_, k) => u - 1 - k);
      expect(ahead).toEqual([1, 1, 2, 3, 1, 1, 1, 2, 3, 3, 3].flatMap(unit));
      expect(queued()).toBe(0);
    });

    it('8 steps per graph by default; units of 8, 6, 4, 3, 2, 1', () => {
      delete process.env.NEMOTRON_CUDA_GRAPH_STEPS;
      const g = new DecodeGraphs(fakeBackend(false).backend);
      expect(g.graphSteps()).toBe(8);
      expect(g.unitSizes()).toEqual([8, 6, 4, 3, 2, 1]);
      expect(g.warmSteps()).toBe(1 + 1 + 2 + 3 + 4 + 6 + 8);
    });

    it('rejects a bad setting', () => {
      const { backend, forward } = fakeBackend(false);
      process.env.NEMOTRON_CUDA_GRAPH_STEPS = '0';
      expect(() => new DecodeGraphs(backend).decodeGreedy('d', Int32Array.of(1), 2, forward)).toThrow(/NEMOTRON_CUDA_GRAPH_STEPS=0/);
    });
  });
});

describe('DecodeGraphs.session: unit by unit, early end, device-side draws (fake device)', () => {
  useGraphSteps('4');

  it('returns units in step order; end() waits for the queued units and returns their ids', () => {
    const { backend, forward, queued } = fakeBackend(true);
    const graphs = new DecodeGraphs(backend);
    const warm = graphs.warmGreedy('d', Int32Array.of(5), forward); // every unit size run, captured and replayed
    const s = graphs.session('d', warm, 40, forward);
    const got: number[] = [];
    for (let k = 0; k < 4; k++) {
      const unit = s.next();
      expect(unit.length).toBeGreaterThan(0);
      got.push(...unit.map((r) => r[0]));
    }
    const rest = s.end().map((r) => r[0]); // the units queued behind the ones returned
    expect(rest.length).toBeGreaterThan(0);
    expect(s.next()).toEqual([]);
    expect(s.end()).toEqual([]);
    const want: number[] = [];
    for (let t = warm[0], i = 0; i < got.length + rest.length; i++) want.push((t = next(t)));
    expect([...got, ...rest]).toEqual(want); // every step that ran is returned once, in order
    expect(queued()).toBe(0);
    expect(backend.tokenFeed).toBeNull(); // the backend is free for other work
  });

  it('draw(step) is asked once per step, in order, and its draws feed the next step', () => {
    const { backend, forward } = fakeBackend(true);
    const graphs = new DecodeGraphs(backend);
    const asked: number[] = [];
    const draw = (step: number) => (asked.push(step), [{ temperature: step % 3, topK: 0, topP: 1, minP: 0, u: 0 }, { temperature: 0, topK: 0, topP: 1, minP: 0, u: 0 }]);
    const s = graphs.session('d', Int32Array.of(1, 2), 30, forward, draw);
    const out: Int32Array[] = [];
    for (let u = s.next(); u.length; u = s.next()) out.push(...u);
    out.push(...s.end());
    expect(asked).toEqual(Array.from({ length: 30 }, (_, i) => i));
    let cur = [1, 2];
    const want = Array.from({ length: 30 }, (_, i) => (cur = [next(cur[0]) + 1000 * (i % 3), next(cur[1])]));
    expect(out.map((r) => Array.from(r))).toEqual(want);
  });

  it('refuses a second session while one is open', () => {
    const { backend, forward } = fakeBackend(false);
    const graphs = new DecodeGraphs(backend);
    const s = graphs.session('d', Int32Array.of(1), 4, forward);
    expect(() => graphs.session('e', Int32Array.of(1), 4, forward)).toThrow(/another decode session/);
    s.end();
    expect(() => graphs.session('e', Int32Array.of(1), 4, forward).end()).not.toThrow();
  });
});
