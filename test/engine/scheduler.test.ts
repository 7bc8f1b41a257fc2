import { describe, expect, it } from 'vitest';
import { QueueFullError, Scheduler } from '../../src/engine/scheduler.js';

const seq = (promptLength: number, prefilled = 0) => ({ promptLength, prefilled });
const cfg = { maxRunning: 2, maxWaiting: 2, maxBatchTokens: 10, prefillChunk: 4 };

describe('Scheduler', () => {
  it('admits up to maxRunning and chunks prefill by prefillChunk', () => {
    const s = new Scheduler(cfg);
    const a = seq(9);
    const b = seq(3);
    const c = seq(5);
    s.add(a);
    s.add(b);
    s.add(c);
    const { work, admitted } = s.schedule();
    expect(admitted).toEqual([a, b]);
    expect(work.map((w) => [w.seq, w.kind, w.count])).toEqual([[a, 'prefill', 4], [b, 'prefill', 3]]);
    expect(s.waiting).toEqual([c]);
  });

  it('decodes every running sequence first, then fills the token budget with prefill', () => {
    const s = new Scheduler({ ...cfg, maxRunning: 3, maxBatchTokens: 5 });
    const d1 = seq(2, 2);
    const d2 = seq(4, 4);
    const p = seq(20);
    [d1, d2, p].forEach((x) => s.add(x));
    const { work } = s.schedule();
    expect(work.map((w) => [w.seq, w.kind, w.count])).toEqual([[d1, 'decode', 1], [d2, 'decode', 1], [p, 'prefill', 3]]);
  });

  it('a long prompt never stalls running decodes (interleaving across steps)', () => {
    const s = new Scheduler({ ...cfg, maxBatchTokens: 4 });
    const d = seq(1, 1);
    const p = seq(100);
    s.add(d);
    s.add(p);
    for (let step = 0; step < 5; step++) {
      const { work } = s.schedule();
      expect(work[0]).toMatchObject({ seq: d, kind: 'decode', count: 1 });
      const pw = work.find((w) => w.seq === p)!;
      expect(pw.count).toBe(3);
      p.prefilled += pw.count;
    }
  });

  it('refuses work beyond the waiting limit (backpressure) and frees slots on remove', () => {
    const s = new Scheduler({ ...cfg, maxRunning: 1, maxWaiting: 1 });
    const a = seq(1);
    const b = seq(1);
    s.add(a);
    s.schedule(); // a running
    s.add(b); // b waiting
    expect(() => s.add(seq(1))).toThrow(QueueFullError);
    expect(s.remove(a)).toBe(true);
    expect(s.schedule().admitted).toEqual([b]);
    expect(s.remove(a)).toBe(false);
    s.remove(b);
    expect(s.idle).toBe(true);
  });

  it('rejects a bad configuration', () => {
    expect(() => new Scheduler({ ...cfg, maxBatchTokens: 0 })).toThrow(/maxBatchTokens/);
  });
});
