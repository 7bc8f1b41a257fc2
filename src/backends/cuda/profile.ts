/**
 * Per-op GPU time in eager mode: a CUDA event before and after each op, read back by `collect()`. The time between
 * two events is what the GPU spent on the op's kernels (plus launch gaps inside the op when the host is slower).
 */
import type { CudaDevice } from './device.js';
import { check, type Handle } from './ffi/driver.js';

export class OpProfiler {
  private readonly spare: Handle[] = [];
  private pending: { name: string; a: Handle; b: Handle }[] = [];
  readonly totals = new Map<string, { ms: number; calls: number }>();

  constructor(private readonly dev: CudaDevice) {}

  private record(): Handle {
    let ev = this.spare.pop();
    if (!ev) {
      const p: [Handle | null] = [null];
      check(this.dev.drv.cuEventCreate(p, 0), 'cuEventCreate');
      ev = p[0]!;
    }
    check(this.dev.drv.cuEventRecord(ev, this.dev.stream), 'cuEventRecord');
    return ev;
  }

  time<R>(name: string, fn: () => R): R {
    if (this.dev.mode !== 'eager') return fn();
    const a = this.record();
    const r = fn();
    this.pending.push({ name, a, b: this.record() });
    return r;
  }

  /** Waits for the stream and adds the pending ops' times to the totals. */
  collect(): void {
    this.dev.sync();
    const ms: [number] = [0];
    for (const p of this.pending) {
      check(this.dev.drv.cuEventElapsedTime(ms, p.a, p.b), 'cuEventElapsedTime');
      const t = this.totals.get(p.name) ?? { ms: 0, calls: 0 };
      t.ms += ms[0];
      t.calls++;
      this.totals.set(p.name, t);
      this.spare.push(p.a, p.b);
    }
    this.pending = [];
  }

  /** A table of ops by total time, per `steps` (e.g. per decoded token). */
  report(steps = 1): string {
    this.collect();
    const rows = [...this.totals.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, t]) => s + t.ms, 0);
    return [
      `| op | ms per step | calls per step | share |`,
      `|---|---|---|---|`,
      ...rows.map(([n, t]) => `| ${n} | ${(t.ms / steps).toFixed(3)} | ${(t.calls / steps).toFixed(0)} | ${((t.ms / total) * 100).toFixed(1)}% |`),
      `| total | ${(total / steps).toFixed(3)} | | |`,
    ].join('\n');
  }

  reset(): void {
    this.collect();
    this.totals.clear();
  }
}
