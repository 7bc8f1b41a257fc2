// gemv_ring.cu: the batch-1 weight-streaming kernels of a decode step (the GEMV, the MoE up rows, the MoE down rows
// with combine and residual) on ring.cuh's per-warp cp.async rings: D rows per warp in flight instead of one in
// registers. Same rows, same products, same reduction order as gemv1.cu / moe_down1.cu, so results match them
// bit for bit. Variants: MAXL (16-byte loads per lane per row: rows up to 256 MAXL bf16) and D (slots per warp),
// picked by ops (matmul.ts, moe-block1.ts, moe-down1.ts) and the NEMOTRON_CUDA_RING* tuning knobs. Block 128
// (4 warps); dynamic shared memory 4 * D * MAXL * 512 bytes; grid: persistent (ops/ring.ts).
#include "common.cuh"
#include "ring.cuh"

// y[m] = W[m] . x, W [M, K] bf16, K % 8 == 0, K <= 256 MAXL, x and rows 16-byte aligned.
template <int MAXL, int D>
__device__ __forceinline__ void gemv_ring_impl(const float* x, const bf16* W, float* y, int K, int M) {
  ring_gemv<MAXL, D>(K, M, M, [&](int r) { return W + (long long)r * K; }, [&](int) { return (const float4*)x; }, [&](int r, float v) { y[r] = v; });
}
extern "C" __global__ void PDL __launch_bounds__(128) gemv_ring_l12_d2(const float* x, const bf16* W, float* y, int K, int M) { gemv_ring_impl<12, 2>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(128) gemv_ring_l12_d3(const float* x, const bf16* W, float* y, int K, int M) { gemv_ring_impl<12, 3>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(128) gemv_ring_l12_d4(const float* x, const bf16* W, float* y, int K, int M) { gemv_ring_impl<12, 4>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(128) gemv_ring_l16_d2(const float* x, const bf16* W, float* y, int K, int M) { gemv_ring_impl<16, 2>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(128) gemv_ring_l16_d3(const float* x, const bf16* W, float* y, int K, int M) { gemv_ring_impl<16, 3>(x, W, y, K, M); }

// moe_up1 (gemv1.cu) on a ring: virtual rows [0, Is) are the shared expert's (issued before pdl_wait), row
// Is + k I + i is row i of routed expert ids[k]; act[r] = relu(row r . x)^2. x [H], act [Is + K I].
template <int MAXL, int D>
__device__ __forceinline__ void moe_up1_ring_impl(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is) {
  ring_gemv<MAXL, D>(
      H, Is + K * I, Is,
      [&](int r) {
        if (r < Is) return upS + (long long)r * H;
        const int v = r - Is;
        return (const bf16*)upPtrs[ids[v / I]] + (long long)(v % I) * H;
      },
      [&](int) { return (const float4*)x; },
      [&](int r, float v) {
        const float t = v > 0.f ? v : 0.f;
        act[r] = t * t;
      });
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_ring_l12_d2(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is) {
  moe_up1_ring_impl<12, 2>(x, ids, upPtrs, upS, act, K, H, I, Is);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_ring_l12_d3(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is) {
  moe_up1_ring_impl<12, 3>(x, ids, upPtrs, upS, act, K, H, I, Is);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_ring_l12_d4(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is) {
  moe_up1_ring_impl<12, 4>(x, ids, upPtrs, upS, act, K, H, I, Is);
}

// moe_down1_res (moe_down1.cu) on a ring: warp w walks outputs o = w, w + nw, ..., each the R = S + K rows of I
// weights (the shared expert's S chunks, then the routed slots), a flat sequence f = (output index) R + t whose
// next D rows are in flight; out[o] = resid[o] + (routed + shared) with moe_down1_res's association. The first
// output's shared rows go out before pdl_wait. Needs I % 8 == 0, I <= 256 MAXL, Is == S I, K <= 32, 16-byte
// aligned act, downS and expert rows.
template <int MAXL, int D>
__device__ __forceinline__ void moe_down1_ring_impl(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                    float* out, int K, int S, int H, int I, int Is) {
  extern __shared__ uint4 ring_smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb, I8 = I >> 3, R = S + K;
  const int o0 = blockIdx.x * wpb + warp;
  uint4* ring = ring_smem + warp * D * RING_SLOT(MAXL);
  u64 slotBase = 0;  // lane k < K: routed slot k's expert base and weight (after pdl_wait; read by shuffles)
  float slotW = 0.f;
  // row t of output oo (called by all lanes: the routed base comes by shuffle)
  auto rowPtr = [&](int oo, int t) -> const bf16* {
    if (t < S) return downS + (long long)oo * Is + (long long)t * I;
    return (const bf16*)__shfl_sync(FULL_MASK, slotBase, t - S) + (long long)oo * I;
  };
  auto flatPtr = [&](int f) -> const bf16* {
    const int oo = o0 + (f / R) * nw;
    return oo < H ? rowPtr(oo, f % R) : nullptr;
  };
  int p = 0;
  if (o0 < H)
    for (; p < D && p < S; p++) ring_issue<MAXL>(ring + p * RING_SLOT(MAXL), rowPtr(o0, p), I8, lane);
  pdl_wait();
  pdl_launch();
  if (o0 >= H) return;
  if (R == 0) {  // no rows: the residual alone
    for (int o = o0; o < H; o += nw)
      if (lane == 0) out[o] = resid ? resid[o] : 0.f;
    return;
  }
  if (lane < K) {
    slotBase = downPtrs[ids[lane]];
    slotW = wts[lane];
  }
  for (int i = p; i < D; i++) ring_issue<MAXL>(ring + i * RING_SLOT(MAXL), flatPtr(i), I8, lane);
  float routed = 0.f, shared = 0.f;
  int o = o0, t = 0, f = 0, s = 0;
  while (o < H) {
    ring_wait<D - 1>();
    uint4* slot = ring + s * RING_SLOT(MAXL);
    const float d = dot_ring<MAXL>(slot, (const float4*)(act + (t < S ? (long long)t * I : Is + (long long)(t - S) * I)), I8, lane);
    ring_issue<MAXL>(slot, flatPtr(f + D), I8, lane);
    const float v = warp_sum(d);
    if (t < S) shared += v;
    else routed += __shfl_sync(FULL_MASK, slotW, t - S) * v;
    if (++t == R) {
      const float moe = routed + shared;
      if (lane == 0) out[o] = resid ? resid[o] + moe : moe;
      routed = shared = 0.f;
      t = 0, o += nw;
    }
    f++;
    s = s + 1 == D ? 0 : s + 1;
  }
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_down1_ring_l8_d2(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                        float* out, int K, int S, int H, int I, int Is) {
  moe_down1_ring_impl<8, 2>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_down1_ring_l8_d3(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                        float* out, int K, int S, int H, int I, int Is) {
  moe_down1_ring_impl<8, 3>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_down1_ring_l8_d4(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                        float* out, int K, int S, int H, int I, int Is) {
  moe_down1_ring_impl<8, 4>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_down1_ring_l12_d3(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                         float* out, int K, int S, int H, int I, int Is) {
  moe_down1_ring_impl<12, 3>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is);
}
