/**
 * L2 persistence for the batch-1 LM head (tuning knob NEMOTRON_CUDA_L2_PERSIST_MB, default 0: off). A decode step
 * streams 6.5 GB of weights through a 50 MB L2, so nothing a step reads survives to the next one. With a persisting
 * set-aside of S MB, an access policy window on the LM head's GEMV marks about S MB of its rows persisting: normal
 * accesses cannot evict them, so each step reads them from L2 instead of DRAM (S / 4.3 TB/s per step), while every
 * other kernel has S MB less L2.
 */
import { check, CU_DEVICE_ATTRIBUTE, CU_LIMIT_PERSISTING_L2_CACHE_SIZE } from '../ffi/driver.js';
import type { L2Window } from '../launch.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';

/** Weights at least this large are LM heads (the next largest Nano matrix, in_proj, is 55 MB). */
const MIN_BYTES = 256 << 20;

interface DeviceL2 {
  maxPersist: number;
  maxWindow: number;
  setMb: number; // the set-aside now in place (MB)
}
const perDevice = new WeakMap<object, DeviceL2>();

/** The window for a GEMV over `w`, or null (knob off, a smaller matrix, or a device without persistence). */
export function l2PersistWindow(c: CudaCtx, w: CudaTensor): L2Window | null {
  const mb = Number(process.env.NEMOTRON_CUDA_L2_PERSIST_MB ?? 0);
  const bytes = w.numel * 2;
  if (!(mb > 0) || w.dtype !== 'bf16' || bytes < MIN_BYTES) {
    if (!(mb > 0)) release(c);
    return null;
  }
  const d = device(c);
  if (!d.maxPersist || !d.maxWindow) return null;
  const setAside = Math.min(mb << 20, d.maxPersist);
  if (d.setMb !== mb) {
    if (c.dev.mode !== 'eager') return null; // the limit changes between steps, never inside a capture
    c.dev.sync();
    check(c.dev.drv.cuCtxSetLimit(CU_LIMIT_PERSISTING_L2_CACHE_SIZE, setAside), 'cuCtxSetLimit (persisting L2)');
    check(c.dev.drv.cuCtxResetPersistingL2Cache(), 'cuCtxResetPersistingL2Cache');
    d.setMb = mb;
  }
  const win = Math.min(bytes, d.maxWindow);
  return { base: w.ptr, bytes: win, hitRatio: Math.min(1, setAside / win) };
}

function device(c: CudaCtx): DeviceL2 {
  let d = perDevice.get(c.dev);
  if (!d) {
    const attr = (a: number) => {
      const v: [number] = [0];
      check(c.dev.drv.cuDeviceGetAttribute(v, a, c.dev.info.ordinal), 'cuDeviceGetAttribute');
      return v[0];
    };
    d = { maxPersist: attr(CU_DEVICE_ATTRIBUTE.MAX_PERSISTING_L2_CACHE_SIZE), maxWindow: attr(CU_DEVICE_ATTRIBUTE.MAX_ACCESS_POLICY_WINDOW_SIZE), setMb: 0 };
    perDevice.set(c.dev, d);
  }
  return d;
}

/** Gives the set-aside back when the knob is turned off (sweeps compare settings in one process). */
function release(c: CudaCtx): void {
  const d = perDevice.get(c.dev);
  if (!d || d.setMb === 0 || c.dev.mode !== 'eager') return;
  c.dev.sync();
  check(c.dev.drv.cuCtxResetPersistingL2Cache(), 'cuCtxResetPersistingL2Cache');
  check(c.dev.drv.cuCtxSetLimit(CU_LIMIT_PERSISTING_L2_CACHE_SIZE, 0), 'cuCtxSetLimit (persisting L2)');
  d.setMb = 0;
}
