/**
 * Device-side step tracing (NEMOTRON_CUDA_TRACE=1, for benchmarks): every kernel is compiled with a warp-level
 * start/end record on the GPU's global timer (common.cuh, TraceWarp), so that a replayed CUDA graph, where the
 * kernels overlap through PDL, shows when each kernel really ran. No profiler is needed (the GPU machine has no
 * Nsight Systems). The records carry no launch id: a kernel's blocks all start before the next kernel may start
 * (PDL launches a kernel once every block of the one before has triggered), so the records sorted by start time
 * split into the launches in order; the launch log gives each launch's name and warp count.
 */
import type { CudaDevice } from './device.js';

/** Records per SM (each 64 bytes). */
const CAP = 16384;
const HEAD = 131072; // per-SM counters, then per-warp-slot record pointers (common.cuh)

/** Inserts NEMOTRON_TRACE_WARP(); at the top of every `extern "C" __global__` kernel body of a source file. */
export function traceSource(source: string): string {
  const re = /(extern\s+"C"\s+__global__\s+void\s+(?:(?:PDL|__launch_bounds__\s*\([^)]*\))\s+)*\w+\s*\([^)]*\)\s*\{)/g;
  return source.replace(re, '$1 NEMOTRON_TRACE_WARP();');
}

export interface TracedLaunch {
  name: string;
  warps: number;
  blocks: number;
  threads: number;
}

/** One warp's record (ns from the step's first start; NaN: not recorded). */
export interface WarpRecord {
  sm: number;
  block: number;
  start: number;
  wait: number;
  marks: number[];
  end: number;
}

/** One launch's span in a traced step (ns from the step's first start). */
export interface LaunchSpan extends TracedLaunch {
  start: number;
  end: number;
  /** Records whose grid shape differs from the launch's (a sign that the split by start time went wrong). */
  mismatched: number;
  /** Median and last of the warps' first pdl_wait returns (NaN: no warp waited). */
  waitMedian: number;
  waitLast: number;
  /** Median warp end. */
  endMedian: number;
  /** Per TRACE_MARK k (0-2): median and last of the warps' marks (NaN: no warp passed it). */
  markMedian: number[];
  markLast: number[];
  /** Every warp's record, when spans() was asked to keep them for this kernel. */
  warpRecords?: WarpRecord[];
}

export class KernelTrace {
  readonly buf: number;
  readonly sms: number;
  /** The launches since clear(), in order. */
  log: TracedLaunch[] = [];

  constructor(private readonly dev: CudaDevice) {
    this.sms = dev.info.multiprocessors;
    this.buf = dev.rawAlloc(HEAD + this.sms * CAP * 64);
    this.reset();
  }

  /** NVRTC options: the buffer's address and capacity as macros (part of the compile cache key). */
  get defines(): string[] {
    return [`-DNEMOTRON_TRACE_BUF=${this.buf}ull`, `-DNEMOTRON_TRACE_CAP=${CAP}u`];
  }

  /** Zeroes the per-SM counters (on the stream: kernels after this call append from the start). */
  reset(): void {
    this.dev.fill32(this.buf, 0, this.sms);
  }

  record(name: string, blocks: number, threads: number): void {
    this.log.push({ name, blocks, threads, warps: blocks * Math.ceil(threads / 32) });
  }

  /**
   * Reads the records appended since reset() (call after a sync) and splits them into `launches` (one step's
   * launch log, in order): start = first warp start, end = last warp end.
   */
  spans(launches: readonly TracedLaunch[], keepWarps?: (name: string) => boolean): LaunchSpan[] {
    const counts = new Uint32Array(this.sms);
    this.dev.download(counts, this.buf);
    const recs: { t0: bigint; t1: bigint; shape: bigint; where: bigint; tw: bigint; marks: bigint[] }[] = [];
    for (let s = 0; s < this.sms; s++) {
      const n = Math.min(counts[s], CAP);
      if (!n) continue;
      const raw = new BigUint64Array(n * 8);
      this.dev.download(raw, this.buf + HEAD + s * CAP * 64);
      for (let i = 0; i < n; i++) recs.push({ t0: raw[8 * i], t1: raw[8 * i + 1], shape: raw[8 * i + 2], where: raw[8 * i + 3], tw: raw[8 * i + 4], marks: [raw[8 * i + 5], raw[8 * i + 6], raw[8 * i + 7]] });
      if (counts[s] > CAP) throw new Error(`trace: SM ${s} appended ${counts[s]} records, room for ${CAP}`);
    }
    recs.sort((a, b) => (a.t0 < b.t0 ? -1 : a.t0 > b.t0 ? 1 : 0));
    const want = launches.reduce((a, l) => a + l.warps, 0);
    if (recs.length !== want) throw new Error(`trace: ${recs.length} warp records, the launch log expects ${want}`);
    const origin = recs[0]?.t0 ?? 0n;
    const out: LaunchSpan[] = [];
    let i = 0;
    for (const l of launches) {
      const shape = (BigInt(l.blocks) << 32n) | BigInt(l.threads);
      let start = Infinity;
      let end = -Infinity;
      let mismatched = 0;
      const waits: number[] = [];
      const ends: number[] = [];
      const marks: number[][] = [[], [], []];
      const keep = keepWarps?.(l.name) ? ([] as WarpRecord[]) : undefined;
      for (let k = 0; k < l.warps; k++, i++) {
        const r = recs[i];
        const rel = (v: bigint) => (v ? Number(v - origin) : NaN);
        keep?.push({ sm: Number(r.where >> 32n), block: Number(r.where & 0xffffffffn), start: rel(r.t0), wait: rel(r.tw), marks: r.marks.map(rel), end: rel(r.t1) });
        start = Math.min(start, Number(r.t0 - origin));
        end = Math.max(end, Number(r.t1 - origin));
        ends.push(Number(r.t1 - origin));
        if (r.tw) waits.push(Number(r.tw - origin));
        r.marks.forEach((m, j) => m && marks[j].push(Number(m - origin)));
        if (r.shape !== shape) mismatched++;
      }
      out.push({ ...l, start, end, mismatched, ...waitStats(waits), endMedian: median(ends), markMedian: marks.map((m) => median(m)), markLast: marks.map((m) => (m.length ? Math.max(...m) : NaN)), ...(keep ? { warpRecords: keep } : {}) });
    }
    return out;
  }

  free(): void {
    this.dev.rawFree(this.buf);
  }
}

function median(v: number[]): number {
  if (!v.length) return NaN;
  v.sort((a, b) => a - b);
  return v[v.length >> 1];
}

function waitStats(w: number[]): { waitMedian: number; waitLast: number } {
  return { waitMedian: median(w), waitLast: w.length ? w[w.length - 1] : NaN };
}

/**
 * Per kernel name over a step's spans: launches, summed own time (end - start), and the time each one moved the
 * step's end forward (max(0, end - the latest end before it)): the latter sums to the step's length, so it says
 * what the step waits for.
 */
export function attribute(spans: readonly LaunchSpan[]): { name: string; launches: number; own: number; critical: number }[] {
  const by = new Map<string, { name: string; launches: number; own: number; critical: number }>();
  let front = spans.length ? spans[0].start : 0;
  for (const s of spans) {
    const e = by.get(s.name) ?? { name: s.name, launches: 0, own: 0, critical: 0 };
    e.launches++;
    e.own += s.end - s.start;
    e.critical += Math.max(0, s.end - front);
    front = Math.max(front, s.end);
    by.set(s.name, e);
  }
  return [...by.values()].sort((a, b) => b.critical - a.critical);
}
