/**
 * Whether the CUDA backend can run here, without creating a context: loads koffi and libcuda.so.1, initialises
 * the driver and counts devices. Never throws; the reason says what is missing.
 */
import { check, loadDriver } from './ffi/driver.js';

export type CudaAvailability = { ok: true; devices: number; driverVersion: number } | { ok: false; reason: string };

let cached: CudaAvailability | undefined;

export function cudaAvailability(): CudaAvailability {
  if (cached) return cached;
  try {
    const drv = loadDriver();
    check(drv.cuInit(0), 'cuInit');
    const n: [number] = [0];
    check(drv.cuDeviceGetCount(n), 'cuDeviceGetCount');
    if (n[0] < 1) return (cached = { ok: false, reason: 'the NVIDIA driver reports no CUDA device' });
    const v: [number] = [0];
    check(drv.cuDriverGetVersion(v), 'cuDriverGetVersion');
    cached = { ok: true, devices: n[0], driverVersion: v[0] };
  } catch (e) {
    cached = { ok: false, reason: `CUDA unavailable: ${(e as Error).message}` };
  }
  return cached;
}

/** True when an NVIDIA GPU and driver are usable from this process. */
export function isCudaAvailable(): boolean {
  return cudaAvailability().ok;
}
