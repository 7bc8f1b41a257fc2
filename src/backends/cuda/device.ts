/**
 * One CUDA device as the backend sees it: primary context, one non-blocking stream, a memory pool and a step
 * arena, a pinned metadata staging area (small per-op tables: token->segment maps, state pointers, ids), copies,
 * and graph capture. Every driver call is checked.
 *
 * Modes: 'eager' runs each op as it is called; 'capture' records the ops into a CUDA graph (stream capture);
 * 'dry' replays a captured step on the host only: ops allocate the same arena addresses and write their metadata
 * to the same staging offsets, but launch nothing; the graph is launched afterwards.
 */
import { Arena, Pool } from './memory.js';
import { check, CU_DEVICE_ATTRIBUTE, CU_STREAM_CAPTURE_MODE_RELAXED, CU_STREAM_NON_BLOCKING, loadDriver, type Driver, type Handle } from './ffi/driver.js';
import { getKoffi } from './ffi/load.js';

export type Mode = 'eager' | 'capture' | 'dry';

const META_BYTES = 32 << 20;

/** Pinned host area mirrored on the device; ops write small tables here and kernels read the device copy. */
class MetaStaging {
  /** The host staging area ops write to now (one of `areas`). */
  host: Handle;
  readonly dev: number;
  private i32v: Int32Array;
  private u32v: Uint32Array;
  /**
   * Pinned host areas: [0] always, the others made by ensureAreas or on first use. Pipelined graph replays take
   * them in turn, so that a step's metadata is written while the uploads of the steps still queued before it may
   * be pending on the stream.
   */
  private readonly areas: { host: Handle; i32v: Int32Array; u32v: Uint32Array }[] = [];
  offset = 0;
  flushed = 0;

  constructor(private readonly d: CudaDevice) {
    this.areas.push(this.newArea());
    ({ host: this.host, i32v: this.i32v, u32v: this.u32v } = this.areas[0]);
    this.dev = d.rawAlloc(META_BYTES);
  }

  private newArea(): { host: Handle; i32v: Int32Array; u32v: Uint32Array } {
    const p: [Handle | null] = [null];
    check(this.d.drv.cuMemHostAlloc(p, META_BYTES, 0), 'cuMemHostAlloc (metadata staging)');
    const buf = getKoffi().view(p[0]!, META_BYTES);
    return { host: p[0]!, i32v: new Int32Array(buf), u32v: new Uint32Array(buf) };
  }

  /** Makes `n` host areas now: pinning 32 MiB takes milliseconds, which must not land inside a pipelined decode. */
  ensureAreas(n: number): void {
    while (this.areas.length < n) this.areas.push(this.newArea());
  }

  /**
   * Switches the host area that ops write to. The caller guarantees that no upload still pending on the stream
   * reads the area it switches to.
   */
  selectArea(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i > 7) throw new Error(`metadata staging area ${i} out of range`);
    while (this.areas.length <= i) this.areas.push(this.newArea());
    ({ host: this.host, i32v: this.i32v, u32v: this.u32v } = this.areas[i]);
  }

  private take(bytes: number): number {
    const need = Math.ceil(bytes / 16) * 16;
    if (this.offset + need > META_BYTES) {
      if (this.d.mode !== 'eager') throw new Error(`CUDA metadata for one graph step exceeds ${META_BYTES} bytes`);
      this.d.sync(); // earlier copies out of the staging area are done; start over
      this.offset = 0;
      this.flushed = 0;
    }
    const at = this.offset;
    this.offset += need;
    return at;
  }

  /** Writes int32 values; returns their device address. */
  i32(values: ArrayLike<number>): number {
    const at = this.take(values.length * 4);
    this.i32v.set(values, at / 4);
    return this.dev + at;
  }

  /** Writes float32 values; returns their device address. */
  f32(values: ArrayLike<number>): number {
    const at = this.take(values.length * 4);
    this.u32v.set(new Uint32Array(Float32Array.from(values).buffer), at / 4);
    return this.dev + at;
  }

  /** Writes 64-bit device pointers; returns their device address. */
  u64(values: ArrayLike<number>): number {
    const at = this.take(values.length * 8);
    const w = at / 4;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      this.u32v[w + 2 * i] = v >>> 0 === v ? v : v % 4294967296;
      this.u32v[w + 2 * i + 1] = Math.floor(v / 4294967296);
    }
    return this.dev + at;
  }

  /** Copies what was written since the last flush to the device (stream-ordered before later launches). */
  flush(): void {
    if (this.offset === this.flushed) return;
    const n = this.offset - this.flushed;
    check(this.d.drv.cuMemcpyHtoDAsync(this.dev + this.flushed, this.host + BigInt(this.flushed), n, this.d.stream), 'cuMemcpyHtoDAsync (metadata)');
    this.flushed = this.offset;
  }

  reset(): void {
    this.offset = 0;
    this.flushed = 0;
  }
}

export interface DeviceInfo {
  ordinal: number;
  name: string;
  computeCapability: string; // e.g. "90"
  multiprocessors: number;
  totalMemory: number;
  driverVersion: number;
}

export class CudaDevice {
  readonly drv: Driver;
  readonly ctx: Handle;
  readonly stream: Handle;
  readonly info: DeviceInfo;
  readonly pool: Pool;
  readonly arena: Arena;
  readonly meta: MetaStaging;
  mode: Mode = 'eager';
  private sideStream: Handle | null = null;

  constructor(ordinal = 0) {
    process.env.CUDA_MODULE_LOADING ??= 'EAGER'; // no lazy kernel loading inside a stream capture
    const drv = (this.drv = loadDriver());
    check(drv.cuInit(0), 'cuInit');
    const count: [number] = [0];
    check(drv.cuDeviceGetCount(count), 'cuDeviceGetCount');
    if (ordinal >= count[0]) throw new Error(`CUDA device ${ordinal} requested, ${count[0]} present`);
    const dev: [number] = [0];
    check(drv.cuDeviceGet(dev, ordinal), 'cuDeviceGet');
    const ctx: [Handle | null] = [null];
    check(drv.cuDevicePrimaryCtxRetain(ctx, dev[0]), 'cuDevicePrimaryCtxRetain');
    this.ctx = ctx[0]!;
    check(drv.cuCtxSetCurrent(this.ctx), 'cuCtxSetCurrent');
    const attr = (a: number) => {
      const v: [number] = [0];
      check(drv.cuDeviceGetAttribute(v, a, dev[0]), 'cuDeviceGetAttribute');
      return v[0];
    };
    const nameBuf = Buffer.alloc(256);
    check(drv.cuDeviceGetName(nameBuf, 256, dev[0]), 'cuDeviceGetName');
    const total: [number] = [0];
    check(drv.cuDeviceTotalMem(total, dev[0]), 'cuDeviceTotalMem');
    const ver: [number] = [0];
    check(drv.cuDriverGetVersion(ver), 'cuDriverGetVersion');
    this.info = {
      ordinal,
      name: nameBuf.toString('utf8').replace(/\0.*$/s, ''),
      computeCapability: `${attr(CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MAJOR)}${attr(CU_DEVICE_ATTRIBUTE.COMPUTE_CAPABILITY_MINOR)}`,
      multiprocessors: attr(CU_DEVICE_ATTRIBUTE.MULTIPROCESSOR_COUNT),
      totalMemory: total[0],
      driverVersion: ver[0],
    };
    const s: [Handle | null] = [null];
    check(drv.cuStreamCreate(s, CU_STREAM_NON_BLOCKING), 'cuStreamCreate');
    this.stream = s[0]!;
    this.pool = new Pool((b) => this.rawAlloc(b), (p) => this.rawFree(p));
    this.arena = new Arena((b) => this.rawAlloc(b), (p) => this.rawFree(p));
    this.meta = new MetaStaging(this);
  }

  rawAlloc(bytes: number): number {
    const p: [number] = [0];
    const code = this.drv.cuMemAlloc(p, bytes);
    if (code !== 0) {
      const free: [number] = [0];
      const total: [number] = [0];
      this.drv.cuMemGetInfo(free, total);
      check(code, `cuMemAlloc of ${(bytes / 2 ** 20).toFixed(1)} MiB (free ${(free[0] / 2 ** 30).toFixed(2)} of ${(total[0] / 2 ** 30).toFixed(2)} GiB)`);
    }
    return p[0];
  }

  rawFree(ptr: number): void {
    check(this.drv.cuMemFree(ptr), 'cuMemFree');
  }

  memInfo(): { free: number; total: number } {
    const free: [number] = [0];
    const total: [number] = [0];
    check(this.drv.cuMemGetInfo(free, total), 'cuMemGetInfo');
    return { free: free[0], total: total[0] };
  }

  sync(): void {
    check(this.drv.cuStreamSynchronize(this.stream), 'cuStreamSynchronize');
  }

  /** Host -> device on the stream (the host buffer may be reused when this returns). */
  upload(dst: number, src: ArrayBufferView): void {
    if (this.mode !== 'eager') throw new Error('host -> device copies are not allowed inside a captured step');
    if (src.byteLength === 0) return;
    const k = getKoffi();
    // large typed arrays live off the V8 heap and do not move: pass their address instead of a marshalled copy
    const p = src.byteLength >= 65536 ? k.address(src) : src;
    check(this.drv.cuMemcpyHtoDAsync(dst, p, src.byteLength, this.stream), 'cuMemcpyHtoDAsync');
  }

  /** Device -> host; waits for the stream first. */
  download(dst: ArrayBufferView, src: number): void {
    if (this.mode !== 'eager') throw new Error('device -> host copies are not allowed inside a captured step');
    if (dst.byteLength === 0) return;
    const k = getKoffi();
    const p = dst.byteLength >= 65536 ? k.address(dst) : dst;
    check(this.drv.cuMemcpyDtoHAsync(p, src, dst.byteLength, this.stream), 'cuMemcpyDtoHAsync');
    this.sync();
  }

  /** Device -> device. Part of the step in eager/capture mode; in dry mode it runs now, before the graph. */
  copy(dst: number, src: number, bytes: number): void {
    if (bytes === 0) return;
    check(this.drv.cuMemcpyDtoDAsync(dst, src, bytes, this.stream), 'cuMemcpyDtoDAsync');
  }

  /**
   * A copy that must happen outside the step being captured (e.g. growing a KV cache): in capture mode it runs on
   * a side stream at once (nothing of the step has run yet); otherwise it is ordered on the main stream.
   */
  copyOutsideStep(dst: number, src: number, bytes: number): void {
    if (bytes === 0) return;
    if (this.mode !== 'capture') {
      check(this.drv.cuMemcpyDtoDAsync(dst, src, bytes, this.stream), 'cuMemcpyDtoDAsync');
      return;
    }
    if (!this.sideStream) {
      const s: [Handle | null] = [null];
      check(this.drv.cuStreamCreate(s, CU_STREAM_NON_BLOCKING), 'cuStreamCreate (side)');
      this.sideStream = s[0]!;
    }
    check(this.drv.cuMemcpyDtoDAsync(dst, src, bytes, this.sideStream), 'cuMemcpyDtoDAsync (side stream)');
    check(this.drv.cuStreamSynchronize(this.sideStream), 'cuStreamSynchronize (side stream)');
  }

  /** Sets `count` 32-bit words to `value` (part of the step). */
  fill32(dst: number, value: number, count: number): void {
    if (this.mode === 'dry' || count === 0) return;
    check(this.drv.cuMemsetD32Async(dst, value >>> 0, count, this.stream), 'cuMemsetD32Async');
  }

  beginCapture(): void {
    check(this.drv.cuStreamBeginCapture(this.stream, CU_STREAM_CAPTURE_MODE_RELAXED), 'cuStreamBeginCapture');
    this.mode = 'capture';
  }

  /** Ends the capture and instantiates the graph; returns the executable graph. */
  endCapture(): Handle {
    this.mode = 'eager';
    const g: [Handle | null] = [null];
    check(this.drv.cuStreamEndCapture(this.stream, g), 'cuStreamEndCapture');
    const exec: [Handle | null] = [null];
    try {
      check(this.drv.cuGraphInstantiate(exec, g[0], 0), 'cuGraphInstantiateWithFlags');
    } finally {
      this.drv.cuGraphDestroy(g[0]);
    }
    return exec[0]!;
  }

  /** Abandons a capture after an error (the partial graph is discarded). */
  abortCapture(): void {
    this.mode = 'eager';
    const g: [Handle | null] = [null];
    if (this.drv.cuStreamEndCapture(this.stream, g) === 0 && g[0]) this.drv.cuGraphDestroy(g[0]);
  }

  launchGraph(exec: Handle): void {
    check(this.drv.cuGraphLaunch(exec, this.stream), 'cuGraphLaunch');
  }

  destroyGraph(exec: Handle): void {
    check(this.drv.cuGraphExecDestroy(exec), 'cuGraphExecDestroy');
  }
}
