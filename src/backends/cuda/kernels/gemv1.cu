// gemv1.cu: batch-1 GEMVs (one activation row, bf16 weights) as persistent warps. Each warp walks rows
// r, r + nw, ... (nw = warps in the grid) and issues the next row's weight loads before it reduces and stores the
// current one, so a warp always has a row of loads in flight; the activation row is staged once per block in
// shared memory. The first row's loads are issued before pdl_wait(): they overlap the previous kernel's tail.
// Needs K % 8 == 0, K <= 256 * MAXL, 16-byte aligned rows and x. Dynamic shared memory: K floats.
#include "common.cuh"
#include "gemv1.cuh"
#include "topk.cuh"

// y[m] = W[m] . x for K <= 3072 (longer rows measured faster on the warp-per-row gemv.cu kernels). grid:
// persistent (about the SMs' capacity); block 128; shmem K * 4.
template <int MAXL>
__device__ __forceinline__ void gemv1_impl(const float* x, const bf16* W, float* y, int K, int M, int pre) {
  gemv1_run<MAXL>(x, K, M, M, pre, [&](int r) { return W + (long long)r * K; }, [&](int r, float v) { y[r] = v; });
}
extern "C" __global__ void PDL __launch_bounds__(128) gemv1_bf16_l12(const float* x, const bf16* W, float* y, int K, int M, int pre) { gemv1_impl<12>(x, W, y, K, M, pre); }
// Up to three GEMVs of the same input row in one launch (attention's q, k and v): virtual rows [0, M0) of W0,
// then M1 rows of W1, then M2 of W2, into y0, y1, y2; k and v (256 rows each in the Nano) alone were two more
// launches per attention layer. grid: persistent over M0 + M1 + M2 rows; block 128; shmem K * 4.
extern "C" __global__ void PDL __launch_bounds__(128) gemv1x3_bf16_l12(const float* x, const bf16* W0, const bf16* W1, const bf16* W2, float* y0, float* y1,
                                                                       float* y2, int M0, int M1, int M2, int K, int pre) {
  gemv1_run<12>(
      x, K, M0 + M1 + M2, M0 + M1 + M2, pre,
      [&](int r) { return r < M0 ? W0 + (long long)r * K : r < M0 + M1 ? W1 + (long long)(r - M0) * K : W2 + (long long)(r - M0 - M1) * K; },
      [&](int r, float v) {
        if (r < M0) y0[r] = v;
        else if (r < M0 + M1) y1[r - M0] = v;
        else y2[r - M0 - M1] = v;
      });
}

// rows of 3073-4096 (out_proj, o_proj): a tuning alternative to the warp-per-row gemv_bf16_n1 (NEMOTRON_CUDA_GEMV1_L16)
extern "C" __global__ void PDL __launch_bounds__(128) gemv1_bf16_l16(const float* x, const bf16* W, float* y, int K, int M, int pre) { gemv1_impl<16>(x, W, y, K, M, pre); }

// gemv1 of RMSNorm(a + b): the norm (and the residual add before it) of the consuming GEMV's input row staged in
// every block (stage_norm_row); block 0 writes the sum to h and the normalised row to u. b, h, u may be null.
// Replaces a separate add + RMSNorm launch per layer at batch 1. grid: persistent; block 128; shmem K * 4.
extern "C" __global__ void PDL __launch_bounds__(128, 7) gemv1_norm_bf16_l12(const float* a, const float* b, float* h, const float* nw, float eps, float* u,
                                                                          const bf16* W, float* y, int K, int M, int pre) {
  extern __shared__ float4 xn4[];
  __shared__ float red[32];
  gemv1_core<12>(
      K, M, M, pre, [&](int r) { return W + (long long)r * K; }, [&]() { stage_norm_row<2>(a, b, h, nw, eps, u, (float*)xn4, K, red); },
      [&](int) { return (const float4*)xn4; }, [&](int r, float v) { y[r] = v; });
}

// The MoE up projections of one token with relu^2, as one GEMV over "virtual rows": rows [0, Is) are the shared
// expert's (read before pdl_wait: no routing needed), rows Is + k I + i are row i of routed expert ids[k].
// act: [Is + K I] (the shared expert's activations first); E: upPtrs' length. grid: persistent; block 128; shmem H * 4.
template <int MAXL>
__device__ __forceinline__ void moe_up1_impl(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int pre, int E) {
  prefetch_l1(upPtrs, (long long)E * 8, threadIdx.x, blockDim.x);  // the expert table (weights): read right after ids
  gemv1_run<MAXL>(
      x, H, Is + K * I, Is, pre,
      [&](int r) {
        if (r < Is) return upS + (long long)r * H;
        const int v = r - Is;
        return (const bf16*)upPtrs[ids[v / I]] + (long long)(v % I) * H;
      },
      [&](int r, float v) {
        const float t = v > 0.f ? v : 0.f;
        act[r] = t * t;
      });
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_l12(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int pre,
                                                                 int E) {
  moe_up1_impl<12>(x, ids, upPtrs, upS, act, K, H, I, Is, pre, E);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_l16(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int pre,
                                                                 int E) {
  moe_up1_impl<16>(x, ids, upPtrs, upS, act, K, H, I, Is, pre, E);
}

// moe_up1 with the router's top-k in every warp (router_logits_norm_bf16 wrote only the logits): after the wait each
// warp reads the E logits through L2 and selects the K experts itself (the same deterministic result in every warp)
// while its first row, a shared expert row loaded before the wait, is in flight; block 0's warp 0 also writes ids
// and wts for moe_down1_res. Virtual rows and act as moe_up1. Needs Is >= the grid's warps (every first row shared)
// for the overlap, not for correctness. E <= 128 (4 scores per lane: fewer registers), K <= 32. grid: persistent;
// block 128; shmem H * 4.
extern "C" __global__ void PDL __launch_bounds__(128, 7) moe_up1_topk_l12(const float* x, const float* logits, const float* bias, int* ids, float* wts,
                                                                       const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int E,
                                                                       int nGroup, int topkGroup, int normTopk, float scale, int pre) {
  extern __shared__ float4 xt4[];
  __shared__ float cs[4][256];
  __shared__ int sIds[4][32];
  __shared__ float sWts[4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  gemv1_core<12>(
      H, Is + K * I, Is, pre,
      [&](int r) {
        if (r < Is) return upS + (long long)r * H;
        const int v = r - Is;
        return (const bf16*)upPtrs[sIds[warp][v / I]] + (long long)(v % I) * H;
      },
      [&]() {
        stage_row_async((float*)xt4, x, H);
        for (int j = lane; j < E; j += 32) cs[warp][j] = __ldcg(logits + j);
        __syncwarp();
        topk_token<4>(cs[warp], bias, sIds[warp], sWts[warp], E, K, nGroup, topkGroup, normTopk, scale, cs[warp], lane);
        __syncwarp();
        if (blockIdx.x == 0 && warp == 0 && lane < K) {
          ids[lane] = sIds[0][lane];
          wts[lane] = sWts[0][lane];
        }
      },
      [&](int) { return (const float4*)xt4; },
      [&](int r, float v) {
        const float t = v > 0.f ? v : 0.f;
        act[r] = t * t;
      });
}

// The MoE down projections of one token as one GEMV over virtual rows of length I: row c H + o (c < S) is the
// shared expert's row o, columns [c I, (c + 1) I) (S = Is / I chunks; read before pdl_wait), row (S + k) H + o is
// row o of routed expert ids[k]. act: [Is | K I] as moe_up1 wrote it; part: [S + K, H]. grid: persistent; block 128.
template <int MAXL>
__device__ __forceinline__ void moe_down1_impl(const float* act, const int* ids, const u64* downPtrs, const bf16* downS, float* part, int K, int S, int H, int I, int Is, int pre) {
  gemv1_multi_run<MAXL>(
      I, (S + K) * H, S * H, pre,
      [&](int r) {
        const int t = r / H, o = r % H;
        if (t < S) return downS + (long long)o * Is + (long long)t * I;
        return (const bf16*)downPtrs[ids[t - S]] + (long long)o * I;
      },
      [&](int r) {
        const int t = r / H;
        return t < S ? act + (long long)t * I : act + Is + (long long)(t - S) * I;
      },
      [&](int r, float v) { part[r] = v; });
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_down1_l8(const float* act, const int* ids, const u64* downPtrs, const bf16* downS, float* part, int K, int S, int H, int I, int Is, int pre) {
  moe_down1_impl<8>(act, ids, downPtrs, downS, part, K, S, H, I, Is, pre);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_down1_l12(const float* act, const int* ids, const u64* downPtrs, const bf16* downS, float* part, int K, int S, int H, int I, int Is, int pre) {
  moe_down1_impl<12>(act, ids, downPtrs, downS, part, K, S, H, I, Is, pre);
}

// out[o] = sum_k wts[k] part[S + k, o] + sum_c part[c, o] (fixed order). grid: ceil(H / 256); block 256.
extern "C" __global__ void PDL moe_combine1(const float* part, const float* wts, float* out, int K, int S, int H) {
  pdl_wait();
  pdl_launch();
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= H) return;
  float routed = 0.f;
  for (int k = 0; k < K; k++) routed += wts[k] * part[(long long)(S + k) * H + o];
  float shared = 0.f;
  for (int c = 0; c < S; c++) shared += part[(long long)c * H + o];
  out[o] = routed + shared;
}
