/**
 * Zeroed device int buffers for kernels that count arrivals (a last-block ticket) and reset their counters before
 * they exit, so that a captured graph can replay them. One buffer per (device, name), made once in an eager step.
 */
import type { CudaCtx } from '../tensor.js';

const buffers = new WeakMap<object, Map<string, number>>();

/** The device address of `count` ints named `name`, zero between launches; throws if first asked for inside a capture. */
export function ticketBuffer(c: CudaCtx, name: string, count: number): number {
  let byName = buffers.get(c.dev);
  if (!byName) buffers.set(c.dev, (byName = new Map()));
  let p = byName.get(name);
  if (p === undefined) {
    if (c.dev.mode !== 'eager') throw new Error(`${name}: first use inside a captured step`);
    p = c.dev.pool.alloc(count * 4).ptr;
    c.dev.fill32(p, 0, count);
    byName.set(name, p);
  }
  return p;
}
