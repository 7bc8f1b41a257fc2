import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CudaDevice } from '../../src/backends/cuda/device.js';
import { kernelDir, parseKernels } from '../../src/backends/cuda/launch.js';
import { attribute, KernelTrace, traceSource, type LaunchSpan } from '../../src/backends/cuda/trace.js';

// The device-independent parts of the step trace (src/backends/cuda/trace.ts): the source transform that puts a
// trace record at the top of every kernel, the split of the warp records into launches, and the attribution of the
// step's length to kernels.

describe('traceSource', () => {
  it('puts exactly one NEMOTRON_TRACE_WARP() at the top of every kernel of every kernel file', () => {
    const dir = kernelDir();
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.cu'))) {
      const src = readFileSync(join(dir, f), 'utf8');
      const out = traceSource(src);
      const kernels = parseKernels(f, src);
      expect(out.match(/NEMOTRON_TRACE_WARP\(\);/g)?.length, f).toBe(kernels.size);
      expect([...parseKernels(f, out).keys()], f).toEqual([...kernels.keys()]);
      // each marker follows a kernel's opening brace
      for (const m of out.matchAll(/\{ NEMOTRON_TRACE_WARP\(\);/g)) expect(out.lastIndexOf('extern "C" __global__', m.index), f).toBeGreaterThanOrEqual(0);
    }
  });

  it('leaves device functions and multi-line signatures intact', () => {
    const src = [
      '__device__ float f(float x) { return x; }',
      'extern "C" __global__ void PDL __launch_bounds__(128, 6) k(const float* a,',
      '    int n) {',
      '  a += n;',
      '}',
    ].join('\n');
    expect(traceSource(src)).toBe(src.replace('int n) {', 'int n) { NEMOTRON_TRACE_WARP();'));
  });
});

/** A device with host memory behind rawAlloc / download, and writable records per SM. */
function fakeDevice(sms: number) {
  const mem = new Map<number, Uint8Array>();
  let next = 1 << 20;
  const find = (p: number): [Uint8Array, number] => {
    for (const [base, buf] of mem) if (p >= base && p < base + buf.length) return [buf, p - base];
    throw new Error(`no allocation at ${p}`);
  };
  const dev = {
    info: { multiprocessors: sms },
    rawAlloc: (bytes: number) => {
      const p = next;
      next += bytes + 4096;
      mem.set(p, new Uint8Array(bytes));
      return p;
    },
    rawFree: (p: number) => mem.delete(p),
    fill32: (dst: number, value: number, count: number) => {
      const [buf, off] = find(dst);
      new DataView(buf.buffer).setUint32(off, value, true);
      for (let i = 0; i < count; i++) new DataView(buf.buffer).setUint32(off + 4 * i, value, true);
    },
    download: (dst: ArrayBufferView, src: number) => {
      const [buf, off] = find(src);
      new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(buf.subarray(off, off + dst.byteLength));
    },
  };
  /** Appends a warp record to SM s as the kernel-side TraceWarp would. */
  const append = (trace: KernelTrace, s: number, t0: number, t1: number, blocks: number, threads: number, tw = 0, mark1 = 0) => {
    const [buf, off] = find(trace.buf);
    const view = new DataView(buf.buffer);
    const i = view.getUint32(off + 4 * s, true);
    view.setUint32(off + 4 * s, i + 1, true);
    const rec = off + 131072 + (s * 16384 + i) * 64;
    view.setBigUint64(rec, BigInt(t0), true);
    view.setBigUint64(rec + 8, BigInt(t1), true);
    view.setBigUint64(rec + 16, (BigInt(blocks) << 32n) | BigInt(threads), true);
    view.setBigUint64(rec + 24, BigInt(s) << 32n, true);
    view.setBigUint64(rec + 32, BigInt(tw), true);
    view.setBigUint64(rec + 48, BigInt(mark1), true);
  };
  return { dev: dev as unknown as CudaDevice, append };
}

describe('KernelTrace.spans', () => {
  it('splits warp records from several SMs into the launches, in start order', () => {
    const { dev, append } = fakeDevice(3);
    const t = new KernelTrace(dev);
    // launch a: 2 blocks of 64 threads (4 warps) from t = 1000; b: 1 block of 32 threads, starts after a's warps
    // started, ends last; c: 3 blocks of 32
    for (const [s, t0, t1] of [[0, 1000, 5000], [2, 1010, 5200], [1, 1005, 4900], [0, 1020, 5100]]) append(t, s, t0, t1, 2, 64);
    append(t, 1, 4000, 9000, 1, 32);
    // c's warps return from pdl_wait at 6050, 5900, 5950 (a's did not wait)
    // and two of them pass TRACE_MARK(1) at 6080 and 6500
    for (const [s, t0, t1, tw, m1] of [[2, 5300, 6000, 5950, 6080], [0, 5310, 6100, 6050, 0], [1, 5305, 7000, 5900, 6500]]) append(t, s, t0, t1, 3, 32, tw, m1);
    t.log = [];
    t.record('a', 2, 64);
    t.record('b', 1, 32);
    t.record('c', 3, 32);
    const spans = t.spans(t.log);
    expect(spans.map((s) => [s.name, s.start, s.end, s.mismatched])).toEqual([
      ['a', 0, 4200, 0],
      ['b', 3000, 8000, 0],
      ['c', 4300, 6000, 0],
    ]);
    // times from the first start (1000): median and last wait return, median end
    expect([spans[2].waitMedian, spans[2].waitLast, spans[2].endMedian]).toEqual([4950, 5050, 5100]);
    expect([spans[0].waitMedian, spans[0].waitLast]).toEqual([NaN, NaN]);
    expect(spans[0].endMedian).toBe(4100); // the upper median of 3900, 4000, 4100, 4200
    // marks: the upper median and the last of the warps that passed it; none passed marks 0 and 2
    expect([spans[2].markMedian[1], spans[2].markLast[1]]).toEqual([5500, 5500]);
    expect([spans[2].markMedian[0], spans[2].markLast[2], spans[0].markMedian[1]]).toEqual([NaN, NaN, NaN]);
    // a launch log that does not match the records is an error, not a silent misattribution
    expect(() => t.spans([{ name: 'a', blocks: 2, threads: 64, warps: 4 }])).toThrow(/8 warp records, the launch log expects 4/);
  });
});

describe('attribute', () => {
  it('charges each launch with how far it moved the step end: the sum is the step length', () => {
    const span = (name: string, start: number, end: number): LaunchSpan => ({ name, start, end, blocks: 1, threads: 32, warps: 1, mismatched: 0, waitMedian: NaN, waitLast: NaN, endMedian: end, markMedian: [], markLast: [] });
    const spans = [span('gemv', 0, 100), span('norm', 90, 120), span('gemv', 110, 300), span('tiny', 150, 200), span('router', 290, 330)];
    const a = attribute(spans);
    expect(a.reduce((s, x) => s + x.critical, 0)).toBe(330);
    expect(Object.fromEntries(a.map((x) => [x.name, [x.launches, x.own, x.critical]]))).toEqual({
      gemv: [2, 290, 280], // 100 + (300 - 120)
      norm: [1, 30, 20],
      tiny: [1, 50, 0], // inside the second gemv: off the critical path
      router: [1, 40, 30],
    });
  });
});
