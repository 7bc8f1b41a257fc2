// gemv1.cu: batch-1 GEMVs (one activation row, bf16 weights) as persistent warps. Each warp walks rows
// r, r + nw, ... (nw = warps in the grid) and issues the next row's weight loads before it reduces and stores the
// current one, so a warp always has a row of loads in flight; the activation row is staged once per block in
// shared memory. The first row's loads are issued before pdl_wait(): they overlap the previous kernel's tail.
// Needs K % 8 == 0, K <= 256 * MAXL, 16-byte aligned rows and x. Dynamic shared memory: K floats.
#include "common.cuh"

template <int MAXL>
__device__ __forceinline__ void load_row(uint4* u, const bf16* w, int K8, int lane) {
  const uint4* w8 = (const uint4*)w;
#pragma unroll
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) u[j] = ld_stream(w8 + c);
  }
}

template <int MAXL>
__device__ __forceinline__ float dot_staged(const uint4* u, const float4* xs4, int K8, int lane) {
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) {
      float f[8];
      unpack8(u[j], f);
      const float4 a = xs4[2 * c], b = xs4[2 * c + 1];
      acc += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
    }
  }
  return acc;
}

// The shared loop: rowPtr(r) is weight row r; rows below `preRows` may be loaded before pdl_wait (weights that no
// earlier kernel chose); stage() runs after the wait (e.g. activations into shared memory); xRow(r) gives the
// activation row of row r as float4s; out(r, v) stores the row's result.
// `pre`: this warp's next `pre` rows are also pulled into L2 (prefetch, no registers): before pdl_wait for rows
// below preRows, after it for the others, so the memory stays busy through the wait and the staging, when only
// the first row is in registers.
template <int MAXL, typename RowPtr, typename Stage, typename XRow, typename Out>
__device__ __forceinline__ void gemv1_core(int K, int M, int preRows, int pre, RowPtr rowPtr, Stage stage, XRow xRow, Out out) {
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb;
  const int K8 = K >> 3;
  int r = blockIdx.x * wpb + (threadIdx.x >> 5);
  uint4 u[MAXL];
  const bool early = r < M && r < preRows;
  if (early) load_row<MAXL>(u, rowPtr(r), K8, lane);
  for (int j = 1; j <= pre; j++) {
    const int rr = r + j * nw;
    if (rr < M && rr < preRows) prefetch_l2(rowPtr(rr), (long long)K * 2, lane, 32);
  }
  pdl_wait();
  stage();
  pdl_launch();
  if (r < M && !early) load_row<MAXL>(u, rowPtr(r), K8, lane);
  for (int j = 1; j <= pre; j++) {
    const int rr = r + j * nw;
    if (rr < M && rr >= preRows) prefetch_l2(rowPtr(rr), (long long)K * 2, lane, 32);
  }
  while (r < M) {
    float acc = dot_staged<MAXL>(u, xRow(r), K8, lane);
    const int rn = r + nw;
    if (rn < M) load_row<MAXL>(u, rowPtr(rn), K8, lane);
    acc = warp_sum(acc);
    if (lane == 0) out(r, acc);
    r = rn;
  }
}

// One activation row x for every weight row, staged once per block in shared memory (dynamic: K floats).
template <int MAXL, typename RowPtr, typename Out>
__device__ __forceinline__ void gemv1_run(const float* x, int K, int M, int preRows, int pre, RowPtr rowPtr, Out out) {
  extern __shared__ float4 xs4[];
  gemv1_core<MAXL>(
      K, M, preRows, pre, rowPtr,
      [&]() {
        for (int c = threadIdx.x; c < (K >> 2); c += blockDim.x) xs4[c] = ((const float4*)x)[c];
        __syncthreads();
      },
      [&](int) { return (const float4*)xs4; }, out);
}

// y[m] = W[m] . x for K <= 3072 (longer rows measured faster on the warp-per-row gemv.cu kernels). grid:
// persistent (about the SMs' capacity); block 128; shmem K * 4.
template <int MAXL>
__device__ __forceinline__ void gemv1_impl(const float* x, const bf16* W, float* y, int K, int M, int pre) {
  gemv1_run<MAXL>(x, K, M, M, pre, [&](int r) { return W + (long long)r * K; }, [&](int r, float v) { y[r] = v; });
}
extern "C" __global__ void PDL __launch_bounds__(128) gemv1_bf16_l12(const float* x, const bf16* W, float* y, int K, int M, int pre) { gemv1_impl<12>(x, W, y, K, M, pre); }

// gemv1 of RMSNorm(a + b): the norm (and the residual add before it) of the consuming GEMV's input row staged in
// every block (stage_norm_row); block 0 writes the sum to h and the normalised row to u. b, h, u may be null.
// Replaces a separate add + RMSNorm launch per layer at batch 1. grid: persistent; block 128; shmem K * 4.
extern "C" __global__ void PDL __launch_bounds__(128, 7) gemv1_norm_bf16_l12(const float* a, const float* b, float* h, const float* nw, float eps, float* u,
                                                                          const bf16* W, float* y, int K, int M, int pre) {
  extern __shared__ float4 xn4[];
  __shared__ float red[32];
  gemv1_core<12>(
      K, M, M, pre, [&](int r) { return W + (long long)r * K; }, [&]() { stage_norm_row(a, b, h, nw, eps, u, (float*)xn4, K, red); },
      [&](int) { return (const float4*)xn4; }, [&](int r, float v) { y[r] = v; });
}

// The MoE up projections of one token with relu^2, as one GEMV over "virtual rows": rows [0, Is) are the shared
// expert's (read before pdl_wait: no routing needed), rows Is + k I + i are row i of routed expert ids[k].
// act: [Is + K I] (the shared expert's activations first). grid: persistent; block 128; shmem H * 4.
template <int MAXL>
__device__ __forceinline__ void moe_up1_impl(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int pre) {
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
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_l12(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int pre) {
  moe_up1_impl<12>(x, ids, upPtrs, upS, act, K, H, I, Is, pre);
}
extern "C" __global__ void PDL __launch_bounds__(128) moe_up1_l16(const float* x, const int* ids, const u64* upPtrs, const bf16* upS, float* act, int K, int H, int I, int Is, int pre) {
  moe_up1_impl<16>(x, ids, upPtrs, upS, act, K, H, I, Is, pre);
}

// As gemv1_run, but each row has its own activation row (xPtr(r), read through L1), all rows of length K.
template <int MAXL, typename RowPtr, typename XPtr, typename Out>
__device__ __forceinline__ void gemv1_multi_run(int K, int M, int preRows, int pre, RowPtr rowPtr, XPtr xPtr, Out out) {
  gemv1_core<MAXL>(K, M, preRows, pre, rowPtr, [] {}, [&](int r) { return (const float4*)xPtr(r); }, out);
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
