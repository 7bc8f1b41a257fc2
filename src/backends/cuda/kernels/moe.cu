// moe.cu: MoE router top-k (model-spec 5) and the routed experts over only the selected experts (decode path:
// one warp per output row of an expert, weights streamed once per (token, slot) pair). The prefill path with many
// tokens per expert goes through cuBLAS (see ops/moe.ts).
#include "common.cuh"

#define MAX_E_PER_LANE 8  // experts <= 256

// One warp per token. logits [N, E] (fp32 router GEMM output), bias [E] (selection only).
// Top-k by biased score, ties to the lower expert id; weights = unbiased sigmoid, renormalised, scaled.
// Group-limited routing (nGroup > 1): keep the topkGroup groups with the largest sum of their two best scores.
extern "C" __global__ void moe_topk(const float* logits, const float* bias, int* ids, float* wts, int N, int E, int K,
                                    int nGroup, int topkGroup, int normTopk, float scale) {
  __shared__ float cs[4][256];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + warp;
  if (n >= N) return;
  float sv[MAX_E_PER_LANE], cv[MAX_E_PER_LANE];
#pragma unroll
  for (int j = 0; j < MAX_E_PER_LANE; j++) {
    const int e = lane + 32 * j;
    if (e < E) {
      sv[j] = sigmoid(logits[(long long)n * E + e]);
      cv[j] = sv[j] + bias[e];
    } else {
      sv[j] = 0.f;
      cv[j] = NEG_INF;
    }
  }
  if (nGroup > 1) {
#pragma unroll
    for (int j = 0; j < MAX_E_PER_LANE; j++) if (lane + 32 * j < E) cs[warp][lane + 32 * j] = cv[j];
    __syncwarp();
    u32 keep = 0;  // bit g set: group g kept (nGroup <= 32)
    if (lane == 0) {
      const int per = E / nGroup;
      float gsc[32];
      for (int g = 0; g < nGroup; g++) {
        float b1 = NEG_INF, b2 = NEG_INF;
        for (int e = g * per; e < (g + 1) * per; e++) {
          const float v = cs[warp][e];
          if (v > b1) { b2 = b1; b1 = v; } else if (v > b2) b2 = v;
        }
        gsc[g] = b1 + (per > 1 ? b2 : 0.f);
      }
      for (int k = 0; k < topkGroup; k++) {
        int best = -1;
        for (int g = 0; g < nGroup; g++) if (!((keep >> g) & 1u) && (best < 0 || gsc[g] > gsc[best])) best = g;
        keep |= 1u << best;
      }
    }
    keep = __shfl_sync(FULL_MASK, keep, 0);
    const int per = E / nGroup;
#pragma unroll
    for (int j = 0; j < MAX_E_PER_LANE; j++) {
      const int e = lane + 32 * j;
      if (e < E && !((keep >> (e / per)) & 1u)) cv[j] = NEG_INF;
    }
  }
  u32 taken = 0;
  float wsum = 0.f;
  for (int k = 0; k < K; k++) {
    float bv = NEG_INF, bs = 0.f;
    int be = 0x7fffffff;
#pragma unroll
    for (int j = 0; j < MAX_E_PER_LANE; j++) {
      const int e = lane + 32 * j;
      if (e < E && !((taken >> j) & 1u) && (cv[j] > bv || (cv[j] == bv && e < be))) { bv = cv[j]; be = e; bs = sv[j]; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(FULL_MASK, bv, o);
      const int oe = __shfl_xor_sync(FULL_MASK, be, o);
      const float os = __shfl_xor_sync(FULL_MASK, bs, o);
      if (ov > bv || (ov == bv && oe < be)) { bv = ov; be = oe; bs = os; }
    }
    if ((be & 31) == lane) taken |= 1u << (be >> 5);
    wsum += bs;
    if (lane == 0) {
      ids[(long long)n * K + k] = be;
      wts[(long long)n * K + k] = bs;
    }
  }
  if (lane == 0) {
    const float norm = (normTopk ? 1.f / (wsum + 1e-20f) : 1.f) * scale;
    for (int k = 0; k < K; k++) wts[(long long)n * K + k] *= norm;
  }
}

// act[p, i] = relu(up_e[i] . x[n])^2 for pair p = n * K + k (e = ids[p]). order (optional) lists pairs sorted by
// expert so that blocks working on one expert run together and share its rows in L2.
// grid: (ceil(I / warpsPerBlock), pairs)
template <typename WT>
__device__ __forceinline__ void moe_up_impl(const float* x, int ldx, const int* ids, const int* order, const u64* upPtrs, float* act, int K, int H, int I) {
  const int lane = threadIdx.x & 31;
  const int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (i >= I) return;
  const int p = order ? order[blockIdx.y] : blockIdx.y;
  const int n = p / K;
  const WT* W = (const WT*)upPtrs[ids[p]] + (long long)i * H;
  const float* xr = x + (long long)n * ldx;
  const bool vec = (sizeof(WT) == 2 ? (H & 7) == 0 : (H & 3) == 0) && (ldx & 3) == 0 && aligned16(xr) && aligned16(W);
  float acc[1] = {0.f};
  if (sizeof(WT) == 2) dot_row_bf16<1>((const bf16*)W, xr, ldx, 1, H, vec, lane, acc);
  else dot_row_f32<1>((const float*)W, xr, ldx, 1, H, vec, lane, acc);
  const float sum = warp_sum(acc[0]);
  if (lane == 0) {
    const float v = sum > 0.f ? sum : 0.f;
    act[(long long)p * I + i] = v * v;
  }
}
extern "C" __global__ void moe_up_bf16(const float* x, int ldx, const int* ids, const int* order, const u64* upPtrs, float* act, int K, int H, int I) { moe_up_impl<bf16>(x, ldx, ids, order, upPtrs, act, K, H, I); }
extern "C" __global__ void moe_up_f32(const float* x, int ldx, const int* ids, const int* order, const u64* upPtrs, float* act, int K, int H, int I) { moe_up_impl<float>(x, ldx, ids, order, upPtrs, act, K, H, I); }

// out[n, o] = sum_k w[n, k] * (down_{e_k}[o] . act[n K + k]); one token per grid row, no atomics.
// grid: (ceil(H / warpsPerBlock), N)
template <typename WT>
__device__ __forceinline__ void moe_down_impl(const float* act, const int* ids, const float* wts, const u64* downPtrs, float* out, int K, int H, int I) {
  const int lane = threadIdx.x & 31;
  const int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (o >= H) return;
  const long long n = blockIdx.y;
  const bool vecW = sizeof(WT) == 2 ? (I & 7) == 0 : (I & 3) == 0;
  float total = 0.f;
  for (int k = 0; k < K; k++) {
    const long long p = n * K + k;
    const WT* W = (const WT*)downPtrs[ids[p]] + (long long)o * I;
    const float* a = act + p * I;
    const bool vec = vecW && aligned16(a) && aligned16(W);
    float acc[1] = {0.f};
    if (sizeof(WT) == 2) dot_row_bf16<1>((const bf16*)W, a, I, 1, I, vec, lane, acc);
    else dot_row_f32<1>((const float*)W, a, I, 1, I, vec, lane, acc);
    total += wts[p] * warp_sum(acc[0]);
  }
  if (lane == 0) out[n * H + o] = total;
}
extern "C" __global__ void moe_down_bf16(const float* act, const int* ids, const float* wts, const u64* downPtrs, float* out, int K, int H, int I) { moe_down_impl<bf16>(act, ids, wts, downPtrs, out, K, H, I); }
extern "C" __global__ void moe_down_f32(const float* act, const int* ids, const float* wts, const u64* downPtrs, float* out, int K, int H, int I) { moe_down_impl<float>(act, ids, wts, downPtrs, out, K, H, I); }

// Per-pair down projection (sorted order, larger batches): outPair[p, o] = down_e[o] . act[p]. grid: (ceil(H/wpb), pairs)
template <typename WT>
__device__ __forceinline__ void moe_down_pairs_impl(const float* act, const int* ids, const int* order, const u64* downPtrs, float* outPair, int H, int I) {
  const int lane = threadIdx.x & 31;
  const int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (o >= H) return;
  const long long p = order ? order[blockIdx.y] : blockIdx.y;
  const WT* W = (const WT*)downPtrs[ids[p]] + (long long)o * I;
  const float* a = act + p * I;
  const bool vec = (sizeof(WT) == 2 ? (I & 7) == 0 : (I & 3) == 0) && aligned16(a) && aligned16(W);
  float acc[1] = {0.f};
  if (sizeof(WT) == 2) dot_row_bf16<1>((const bf16*)W, a, I, 1, I, vec, lane, acc);
  else dot_row_f32<1>((const float*)W, a, I, 1, I, vec, lane, acc);
  const float sum = warp_sum(acc[0]);
  if (lane == 0) outPair[p * H + o] = sum;
}
extern "C" __global__ void moe_down_pairs_bf16(const float* act, const int* ids, const int* order, const u64* downPtrs, float* outPair, int H, int I) { moe_down_pairs_impl<bf16>(act, ids, order, downPtrs, outPair, H, I); }
extern "C" __global__ void moe_down_pairs_f32(const float* act, const int* ids, const int* order, const u64* downPtrs, float* outPair, int H, int I) { moe_down_pairs_impl<float>(act, ids, order, downPtrs, outPair, H, I); }

// out[n, o] = sum_k w[n, k] * rows[pos(n, k), o]; pos = n K + k, or inv[n K + k] when given (rows in expert order).
// grid: (ceil(H / 256), N)
extern "C" __global__ void moe_combine(const float* rows, const int* inv, const float* wts, float* out, int K, int H) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= H) return;
  const long long n = blockIdx.y;
  float total = 0.f;
  for (int k = 0; k < K; k++) {
    const long long p = n * K + k;
    const long long r = inv ? inv[p] : p;
    total += wts[p] * rows[r * H + o];
  }
  out[n * H + o] = total;
}

// Pairs sorted by expert (stable): order[j] = pair index. One block; thread e handles expert e (E <= blockDim).
extern "C" __global__ void moe_sort(const int* ids, int NK, int E, int* order) {
  __shared__ int cnt[1024];
  const int e = threadIdx.x;
  int c = 0;
  if (e < E) for (int p = 0; p < NK; p++) c += ids[p] == e;
  cnt[threadIdx.x] = e < E ? c : 0;
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0;
    for (int j = 0; j < E; j++) { const int v = cnt[j]; cnt[j] = run; run += v; }
  }
  __syncthreads();
  if (e < E) {
    int w = cnt[e];
    for (int p = 0; p < NK; p++) if (ids[p] == e) order[w++] = p;
  }
}

// Gather rows of x for a pair list (prefill path): xs[j] = bf16(x[perm[j] / K]) (hi part, plus lo when lo != 0).
// grid: (ceil(H / 256), pairs)
extern "C" __global__ void moe_gather_bf16(const float* x, int ldx, const int* perm, int K, bf16* hi, bf16* lo, int H) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= H) return;
  const long long j = blockIdx.y;
  const float v = x[(long long)(perm[j] / K) * ldx + c];
  const bf16 h = f2bf(v);
  hi[j * H + c] = h;
  if (lo) lo[j * H + c] = f2bf(v - bf2f(h));
}

// relu(v)^2 in place on f32 and a bf16 copy (hi, optional lo) for the next GEMM. grid-stride.
extern "C" __global__ void relu2_to_bf16(float* v, bf16* hi, bf16* lo, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float r = v[i] > 0.f ? v[i] : 0.f;
    const float a = r * r;
    v[i] = a;
    const bf16 h = f2bf(a);
    hi[i] = h;
    if (lo) lo[i] = f2bf(a - bf2f(h));
  }
}
