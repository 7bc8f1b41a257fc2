import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelDir, parseKernels } from '../../src/backends/cuda/launch.js';
import { Arena, Pool, sizeClass } from '../../src/backends/cuda/memory.js';

// Device-independent parts of the CUDA backend: these run on every machine.
describe('step arena', () => {
  const fakeDevice = () => {
    let next = 0x10000;
    const live = new Set<number>();
    return {
      alloc: (b: number) => {
        const p = next;
        next += b + 4096;
        live.add(p);
        return p;
      },
      free: (p: number) => live.delete(p),
      live,
    };
  };

  it('gives the same addresses to the same requests after a reset (what graph replay relies on)', () => {
    const d = fakeDevice();
    const a = new Arena(d.alloc, d.free, 1000);
    const run = () => [a.alloc(10), a.alloc(700), a.alloc(600), a.alloc(5000), a.alloc(1)];
    const first = run();
    a.reset();
    expect(run()).toEqual(first);
    expect(a.generation).toBe(1);
    expect(new Set(first).size).toBe(first.length);
  });

  it('releases scratch to a mark and never overlaps live allocations', () => {
    const d = fakeDevice();
    const a = new Arena(d.alloc, d.free, 4096);
    const out = a.alloc(100);
    const m = a.mark();
    const s1 = a.alloc(200);
    a.release(m);
    const s2 = a.alloc(200);
    expect(s2).toBe(s1);
    expect(s1).toBeGreaterThanOrEqual(out + 256);
  });

  it('pool reuses freed buffers of the same size class', () => {
    const d = fakeDevice();
    const p = new Pool(d.alloc, d.free);
    const x = p.alloc(1000);
    p.release(x.ptr, x.size);
    expect(p.alloc(900).ptr).toBe(x.ptr);
    expect(sizeClass(3 << 20)).toBe(4 << 20);
    expect(sizeClass(100)).toBe(256);
  });
});

describe('kernel sources', () => {
  it('every extern "C" kernel has a signature the launcher can pack', () => {
    const dir = kernelDir();
    const names = new Set<string>();
    const all = new Map<string, ReturnType<typeof parseKernels> extends Map<string, infer V> ? V : never>();
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.cu'))) {
      const sigs = parseKernels(f, readFileSync(join(dir, f), 'utf8'));
      for (const [name, sig] of sigs) all.set(name, sig);
      expect(sigs.size).toBeGreaterThan(0);
      for (const [name, sig] of sigs) {
        expect(names.has(name)).toBe(false);
        names.add(name);
        const last = sig.params[sig.params.length - 1];
        expect(sig.size).toBe(last.offset + (last.kind === 'ptr' || last.kind === 'i64' ? 8 : 4));
      }
    }
    for (const k of ['gemv_bf16_n1', 'router_topk_bf16', 'moe_up_fused', 'moe_down_fused', 'argmax_partial']) expect(all.get(k)?.pdl, k).toBe(true);
    expect(all.get('moe_topk')?.pdl).toBe(false);
    for (const k of ['gemv_bf16_n1', 'ssm_scan', 'attn_rows', 'moe_topk', 'moe_up_bf16', 'conv_step', 'rms_norm', 'gated_rms_norm', 'embed_rows']) expect(names.has(k)).toBe(true);
  });
});

describe('kernel signatures: PDL marker', () => {
  it('parses PDL and __launch_bounds__ in either order and records which kernels may launch early', () => {
    const src = [
      'extern "C" __global__ void PDL a(const float* x, int n) {}',
      'extern "C" __global__ void __launch_bounds__(128) PDL b(float* y) {}',
      'extern "C" __global__ void __launch_bounds__(256) c(float* y, float s) {}',
      'extern "C" __global__ void d(long long n) {}',
    ].join('\n');
    const sigs = parseKernels('x.cu', src);
    expect([...sigs.keys()]).toEqual(['a', 'b', 'c', 'd']);
    expect([...sigs.values()].map((s) => s.pdl)).toEqual([true, true, false, false]);
    expect(sigs.get('c')!.params.map((p) => p.kind)).toEqual(['ptr', 'f32']);
  });
});
