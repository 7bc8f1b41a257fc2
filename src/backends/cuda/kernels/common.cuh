// common.cuh: helpers shared by every kernel family. No system headers: NVRTC compiles these sources without
// any include path, so bf16 is handled as raw 16-bit words (a bf16 value is the top half of a float32).
#pragma once

typedef unsigned short bf16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define FULL_MASK 0xffffffffu
#define NEG_INF (-__int_as_float(0x7f800000))

// Step tracing (NEMOTRON_CUDA_TRACE=1; trace.ts inserts NEMOTRON_TRACE_WARP() at the top of every kernel and
// defines the buffer address): lane 0 of every warp appends {start, end, grid blocks << 32 | block threads,
// smid << 32 | block, first pdl_wait return or 0, marks 0-2 or 0} (8 u64, %globaltimer ns) to its SM's list; the u32
// counter of SM s is at NEMOTRON_TRACE_BUF + 4 s, the record pointer of warp slot w (%warpid) of SM s at
// NEMOTRON_TRACE_BUF + 4096 + 8 (64 s + w) (for pdl_wait's mark: no shared memory, which some kernels use up), its
// list at NEMOTRON_TRACE_BUF + 131072 + s * NEMOTRON_TRACE_CAP * 64. Per-SM lists keep the appends off one
// contended counter. The end is lane 0's return (the warp's other lanes may run on).
#ifdef NEMOTRON_TRACE_BUF
__device__ __forceinline__ unsigned long long** nemotron_trace_slot() {
  unsigned sm, w;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  asm volatile("mov.u32 %0, %%warpid;" : "=r"(w));
  return (unsigned long long**)((NEMOTRON_TRACE_BUF) + 4096ull + 8ull * (64ull * sm + (w & 63u)));
}
// Holds nothing across the kernel (the record pointer lives in the warp slot's table entry, which the end reads
// back): a member held 2 registers through every kernel and took moe_up1 and gemv1 from 64 to 80 registers, 6
// blocks per SM instead of 8, so the traced step ran another occupancy.
struct TraceWarp {
  __device__ __forceinline__ TraceWarp() {
    const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    if (t & 31) return;
    unsigned long long now;
    unsigned sm;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    const unsigned i = atomicAdd((unsigned*)(NEMOTRON_TRACE_BUF) + sm, 1u);
    *nemotron_trace_slot() = nullptr;
    if (i >= NEMOTRON_TRACE_CAP) return;
    unsigned long long* rec = (unsigned long long*)((NEMOTRON_TRACE_BUF) + 131072ull + ((unsigned long long)sm * NEMOTRON_TRACE_CAP + i) * 64ull);
    *nemotron_trace_slot() = rec;
    const unsigned long long blocks = (unsigned long long)gridDim.x * gridDim.y * gridDim.z;
    const unsigned long long block = blockIdx.x + (unsigned long long)gridDim.x * (blockIdx.y + (unsigned long long)gridDim.y * blockIdx.z);
    rec[0] = now;
    rec[2] = blocks << 32 | (blockDim.x * blockDim.y * blockDim.z);
    rec[3] = (unsigned long long)sm << 32 | block;
    rec[4] = rec[5] = rec[6] = rec[7] = 0;
  }
  __device__ __forceinline__ ~TraceWarp() {
    const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    if (t & 31) return;
    unsigned long long now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    unsigned long long* rec = *nemotron_trace_slot();
    if (rec) rec[1] = now;
  }
};
#define NEMOTRON_TRACE_WARP() TraceWarp nemotron_trace_warp_
// lane 0's first return from pdl_wait: when the dependency resolved for this warp
__device__ __forceinline__ void nemotron_trace_wait() {
  if (threadIdx.x & 31) return;
  unsigned long long* r = *nemotron_trace_slot();
  if (!r || r[4]) return;
  unsigned long long now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  r[4] = now;
}
// TRACE_MARK(k), k < 3: lane 0's first pass through a point of a kernel's chain (bench/cuda-step-trace.ts prints
// each mark against the wait return); compiled to nothing without the trace
// (the time is read first: the record lookup's two dependent loads then delay what follows the mark, not the mark)
__device__ __forceinline__ void nemotron_trace_mark(int k) {
  if (threadIdx.x & 31) return;
  unsigned long long now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  unsigned long long* r = *nemotron_trace_slot();
  if (!r || r[5 + k]) return;
  r[5 + k] = now;
}
#define TRACE_MARK(k) nemotron_trace_mark(k)
#else
#define NEMOTRON_TRACE_WARP()
#define TRACE_MARK(k)
#endif
// Programmatic dependent launch (Hopper): a kernel whose declaration carries PDL (`extern "C" __global__ void PDL
// name(...)`) is launched so that it may start while the previous kernel in the stream finishes (launch.ts). It
// MUST call pdl_wait() before it reads anything an earlier kernel wrote or writes anything an earlier kernel reads;
// work before that may only touch weights (e.g. prefetch them into L2), step metadata (uploaded before the step),
// and data last written two or more launches back, where the kernel right before calls pdl_launch() only after its
// pdl_wait() (all but the pdl_launch_early() kernels below): then, when a kernel starts, the kernel two launches
// before it has completed (read such data through L2, __ldcg: another SM's L1 may hold an older line).
// pdl_launch() lets the next kernel start early. Both are no-ops below sm_90 and when the kernel was launched
// normally.
#define PDL
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
#ifdef NEMOTRON_TRACE_BUF
  nemotron_trace_wait();
#endif
}
__device__ __forceinline__ void pdl_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
// pdl_launch_early(): for the small latency-bound kernels that come right before a weight-streaming kernel (the
// norm before a GEMV, the router before moe_up1, mamba_step before out_proj, attn_combine before o_proj). Called at
// their start instead of after their wait, it lets the next kernel launch at once, so its blocks are placed and issue
// their first weight rows as the kernel before drains: 2.385 against 2.41 ms per batch-1 step on an H200 (every kernel doing it: 2.45).
// Only where the next kernel reads nothing but weights and step metadata before its own pdl_wait: that kernel may
// start while the one before this one is still running.
__device__ __forceinline__ void pdl_launch_early() { pdl_launch(); }
// A load that later loads of this thread cannot pass (acquire, GPU scope): the reader side of a device counter
// whose writers store, __threadfence(), then atomicAdd.
__device__ __forceinline__ u32 ld_acquire_u32(const u32* p) {
  u32 v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
// Pulls [p, p + bytes) into L2 (one prefetch per 128-byte line, spread over `nthreads` threads starting at `tid`).
__device__ __forceinline__ void prefetch_l2(const void* p, long long bytes, int tid, int nthreads) {
  const char* c = (const char*)p;
  for (long long o = (long long)tid * 128; o < bytes; o += (long long)nthreads * 128) asm volatile("prefetch.global.L2 [%0];" :: "l"(c + o));
}

// Pulls [p, p + bytes) into this SM's L1 (one prefetch per 128-byte line over `nthreads` threads from `tid`): for
// small weights (norm weights, router bias) that a kernel reads right after pdl_wait, so that read is an L1 hit.
__device__ __forceinline__ void prefetch_l1(const void* p, long long bytes, int tid, int nthreads) {
  const char* c = (const char*)p;
  for (long long o = (long long)tid * 128; o < bytes; o += (long long)nthreads * 128) asm volatile("prefetch.global.L1 [%0];" :: "l"(c + o));
}

__device__ __forceinline__ float bf2f(bf16 h) { return __uint_as_float(((u32)h) << 16); }

// float -> bf16, round to nearest even (NaN stays NaN)
__device__ __forceinline__ bf16 f2bf(float f) {
  u32 u = __float_as_uint(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return (bf16)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (bf16)(u >> 16);
}

// 8 packed bf16 (one 16-byte load) -> 8 floats; element 0 is the low half of .x
__device__ __forceinline__ void unpack8(uint4 u, float* f) {
  f[0] = __uint_as_float(u.x << 16); f[1] = __uint_as_float(u.x & 0xffff0000u);
  f[2] = __uint_as_float(u.y << 16); f[3] = __uint_as_float(u.y & 0xffff0000u);
  f[4] = __uint_as_float(u.z << 16); f[5] = __uint_as_float(u.z & 0xffff0000u);
  f[6] = __uint_as_float(u.w << 16); f[7] = __uint_as_float(u.w & 0xffff0000u);
}

// acc plus the dot of one 16-byte chunk c of a bf16 weight row (8 weights) with x[8c, 8c + 8), x as float4s: the
// same products and order wherever a GEMV kernel adds a chunk (so kernels that share it give the same bits).
__device__ __forceinline__ float fma_chunk(float acc, uint4 w, const float4* xs4, int c) {
  float f[8];
  unpack8(w, f);
  const float4 a = xs4[2 * c], b = xs4[2 * c + 1];
  return acc + (f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w);
}

// 16-byte load that bypasses L1 (weights are read once per step)
__device__ __forceinline__ uint4 ld_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
  return r;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
  return v;
}

// Sum over the block; `sh` holds 32 floats; every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float t = lane < nw ? sh[lane] : 0.f;
  return warp_sum(t);
}

// The residual add + RMSNorm of one row, staged for a kernel that consumes it (decode, batch 1): v = a + b (b may
// be null), xs = w * v / sqrt(mean(v^2) + eps) into shared memory xs[K]. Block 0 also writes v to h (the next
// residual; may be null) and xs to u (the normalised row for later consumers; may be null). Every block reduces
// the row itself: that costs an L1-shared 3 x K-float read per block, where a separate norm kernel cost a launch
// on the critical path of every layer. BATCH chunks per thread are loaded before any is used, so the loads of a
// pass are one memory round trip (a plain loop waited for each load in turn: several round trips after
// pdl_wait). K % 4 == 0; a, b, w, h, u 16-byte aligned. Ends with __syncthreads.
template <int BATCH>
__device__ __forceinline__ void stage_norm_row(const float* a, const float* b, float* h, const float* w, float eps, float* u, float* xs, int K, float* red) {
  const float4* a4 = (const float4*)a;
  const float4* b4 = (const float4*)b;
  const float4* w4 = (const float4*)w;
  float4* x4 = (float4*)xs;
  const int K4 = K >> 2, step = blockDim.x;
  float ss = 0.f;
  for (int base = threadIdx.x; base < K4; base += BATCH * step) {
    float4 va[BATCH], vb[BATCH];
#pragma unroll
    for (int j = 0; j < BATCH; j++) {
      const int c = base + j * step;
      if (c < K4) {
        va[j] = a4[c];
        if (b) vb[j] = b4[c];
      }
    }
#pragma unroll
    for (int j = 0; j < BATCH; j++) {
      const int c = base + j * step;
      if (c < K4) {
        float4 v = va[j];
        if (b) {
          v.x += vb[j].x;
          v.y += vb[j].y;
          v.z += vb[j].z;
          v.w += vb[j].w;
        }
        x4[c] = v;
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
      }
    }
  }
  ss = block_sum(ss, red);
  const float inv = 1.f / sqrtf(ss / K + eps);
  const bool first = blockIdx.x == 0 && blockIdx.y == 0;
  for (int base = threadIdx.x; base < K4; base += BATCH * step) {
    float4 wv[BATCH];
#pragma unroll
    for (int j = 0; j < BATCH; j++) {
      const int c = base + j * step;
      if (c < K4) wv[j] = w4[c];
    }
#pragma unroll
    for (int j = 0; j < BATCH; j++) {
      const int c = base + j * step;
      if (c < K4) {
        const float4 v = x4[c];
        float4 o;
        o.x = wv[j].x * (v.x * inv);
        o.y = wv[j].y * (v.y * inv);
        o.z = wv[j].z * (v.z * inv);
        o.w = wv[j].w * (v.w * inv);
        x4[c] = o;
        if (first) {
          if (h) ((float4*)h)[c] = v;
          if (u) ((float4*)u)[c] = o;
        }
      }
    }
  }
  __syncthreads();
}

__device__ __forceinline__ float silu(float v) { return v / (1.f + expf(-v)); }
__device__ __forceinline__ float sigmoid(float v) { return 1.f / (1.f + expf(-v)); }
// PyTorch's softplus with threshold 20 (model-spec 3.4)
__device__ __forceinline__ float softplus(float v) { return v > 20.f ? v : log1pf(expf(v)); }

// Weight row loaders: a row of K weights (bf16 or f32) dotted with NT activation rows (f32, row stride ldx).
// `vec` picks 16-byte loads (needs K % 8 == 0 for bf16, K % 4 == 0 for f32, and 16-byte aligned rows).
template <int NT>
__device__ __forceinline__ void dot_row_bf16(const bf16* w, const float* x, long long ldx, int nt, int K, bool vec, int lane, float* acc) {
  if (vec) {
    const uint4* w8 = (const uint4*)w;
    const int K8 = K >> 3;
    int c = lane;
    for (; c + 96 < K8; c += 128) {  // four loads in flight per lane
      uint4 u0 = ld_stream(w8 + c), u1 = ld_stream(w8 + c + 32), u2 = ld_stream(w8 + c + 64), u3 = ld_stream(w8 + c + 96);
      uint4 us[4] = {u0, u1, u2, u3};
#pragma unroll
      for (int q = 0; q < 4; q++) {
        float f[8];
        unpack8(us[q], f);
        const int cc = c + 32 * q;
#pragma unroll
        for (int t = 0; t < NT; t++) {
          if (t < nt) {
            const float4* xp = (const float4*)(x + t * ldx + cc * 8);
            float4 a = xp[0], b = xp[1];
            acc[t] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
          }
        }
      }
    }
    for (; c < K8; c += 32) {
      float f[8];
      unpack8(ld_stream(w8 + c), f);
#pragma unroll
      for (int t = 0; t < NT; t++) {
        if (t < nt) {
          const float4* xp = (const float4*)(x + t * ldx + c * 8);
          float4 a = xp[0], b = xp[1];
          acc[t] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
        }
      }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      const float wv = bf2f(w[k]);
#pragma unroll
      for (int t = 0; t < NT; t++) if (t < nt) acc[t] += wv * x[t * ldx + k];
    }
  }
}

// One bf16 weight row . one float32 activation row (N = 1, the batch-1 decode path), this lane's partial sum.
// All of the lane's 16-byte weight loads of a round (up to 16: K <= 4096 in one round) are issued before any is
// used, so a warp waits for memory once per row instead of once per few loads. Needs vec (see dot_row_bf16).
__device__ __forceinline__ float dot_row_bf16_1(const bf16* w, const float* x, int K, int lane) {
  const uint4* w8 = (const uint4*)w;
  const int K8 = K >> 3;
  float acc = 0.f;
  for (int base = 0; base < K8; base += 32 * 16) {
    uint4 u[16];
#pragma unroll
    for (int j = 0; j < 16; j++) {
      const int c = base + lane + 32 * j;
      if (c < K8) u[j] = ld_stream(w8 + c);
    }
#pragma unroll
    for (int j = 0; j < 16; j++) {
      const int c = base + lane + 32 * j;
      if (c < K8) {
        float f[8];
        unpack8(u[j], f);
        const float4* xp = (const float4*)(x + c * 8);
        const float4 a = xp[0], b = xp[1];
        acc += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
      }
    }
  }
  return acc;
}

template <int NT>
__device__ __forceinline__ void dot_row_f32(const float* w, const float* x, long long ldx, int nt, int K, bool vec, int lane, float* acc) {
  if (vec) {
    const float4* w4 = (const float4*)w;
    const int K4 = K >> 2;
    for (int c = lane; c < K4; c += 32) {
      float4 wv = w4[c];
#pragma unroll
      for (int t = 0; t < NT; t++) {
        if (t < nt) {
          float4 a = ((const float4*)(x + t * ldx))[c];
          acc[t] += wv.x * a.x + wv.y * a.y + wv.z * a.z + wv.w * a.w;
        }
      }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      const float wv = w[k];
#pragma unroll
      for (int t = 0; t < NT; t++) if (t < nt) acc[t] += wv * x[t * ldx + k];
    }
  }
}

__device__ __forceinline__ bool aligned16(const void* p) { return (((u64)p) & 15u) == 0; }
