// moe.cu: MoE router top-k (model-spec 5) and the routed experts over only the selected experts (decode path:
// one warp per output row of an expert, weights streamed once per (token, slot) pair). The prefill path with many
// tokens per expert goes through cuBLAS (see ops/moe.ts).
#include "common.cuh"
#include "topk.cuh"

// One warp per token. logits [N, E] (fp32 router GEMM output), bias [E] (selection only).
extern "C" __global__ void moe_topk(const float* logits, const float* bias, int* ids, float* wts, int N, int E, int K,
                                    int nGroup, int topkGroup, int normTopk, float scale) {
  __shared__ float cs[4][256];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + warp;
  if (n >= N) return;
  topk_token(logits + (long long)n * E, bias, ids + (long long)n * K, wts + (long long)n * K, E, K, nGroup, topkGroup, normTopk, scale, cs[warp], lane);
}

// The RMSNorm of the router's input row, fused in at batch 1 (see stage_norm_row in common.cuh).
struct NormIn {
  const float* a;
  const float* b;
  float* h;
  const float* w;
  float eps;
  float* u;
};

// Router of a few tokens (decode, N <= 16) and their top-k in one kernel. Block b computes the logits of experts
// 2b and 2b + 1 for every token (block 256; block 128: expert b alone, a block that fits on an SM sooner):
// 4 warps per expert row, each over a quarter of H (many loads in flight at batch
// 1, where a warp per row left the GEMV latency-bound), float32 accumulation; the last block to finish (atomic
// ticket; it resets the counter) runs the top-k of every token. counter: one int, zero between launches.
// grid: ceil(E / 2) of 256 threads, or E of 128.
template <typename WT, bool TOPK = true>
__device__ __forceinline__ void router_topk_impl(const float* x, int ldx, const WT* gate, const float* bias, float* logits, int* ids, float* wts,
                                                 int* counter, int N, int H, int E, int K, int nGroup, int topkGroup, int normTopk, float scale,
                                                 const NormIn* norm = nullptr) {
  __shared__ float part[8][16];
  __shared__ float cs[8][256];
  __shared__ int last;
  pdl_launch_early();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, epb = blockDim.x >> 7;  // experts per block: 1 or 2
  const int e = blockIdx.x * epb + (warp >> 2), q = warp & 3;
  const int per = ((H + 3) / 4 + 7) & ~7;  // quarter of H, a multiple of 8 (16-byte loads)
  const int h0 = q * per, h1 = min(H, h0 + per);
  // batch 1 with a staged row (norm): the quarter row's weights go to registers before the wait (<= 4 loads per
  // lane, H <= 4096, H % 8 == 0), so no weight round trip is left after it
  const bool one = norm != nullptr && sizeof(WT) == 2;
  const int q8 = (h1 - h0) >> 3;
  uint4 wq[4];
  if (one && e < E && h0 < h1) {
    const uint4* w8 = (const uint4*)(gate + (long long)e * H + h0);
#pragma unroll
    for (int j = 0; j < 4; j++) if (lane + 32 * j < q8) wq[j] = ld_stream(w8 + lane + 32 * j);
  } else if (e < E && h0 < h1) {
    prefetch_l2(gate + (long long)e * H + h0, (long long)(h1 - h0) * sizeof(WT), lane, 32);
  }
  // the norm weight (read by stage_norm_row after the wait) and the bias (the top-k's) into L1: weights
  if (norm) prefetch_l1(norm->w, (long long)H * 4, threadIdx.x, blockDim.x);
  if (TOPK && bias) prefetch_l1(bias, (long long)E * 4, threadIdx.x, blockDim.x);
  pdl_wait();
  pdl_launch();
  if (norm) {  // batch 1: x is RMSNorm(a + b), staged here (dynamic shared memory: H floats)
    extern __shared__ float4 xn4[];
    __shared__ float red[32];
    stage_norm_row<4>(norm->a, norm->b, norm->h, norm->w, norm->eps, norm->u, (float*)xn4, H, red);
    x = (const float*)xn4;
    ldx = H;
  }
  TRACE_MARK(0);  // the input row staged
  float acc[16];
#pragma unroll
  for (int t = 0; t < 16; t++) acc[t] = 0.f;
  if (one && e < E && h0 < h1) {
    const float4* x4 = (const float4*)(x + h0);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int c = lane + 32 * j;
      if (c < q8) {
        float f[8];
        unpack8(wq[j], f);
        const float4 a = x4[2 * c], b = x4[2 * c + 1];
        acc[0] += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
      }
    }
  } else if (e < E && h0 < h1) {
    const WT* w = gate + (long long)e * H + h0;
    const bool vec = (sizeof(WT) == 2 ? (H & 7) == 0 : (H & 3) == 0) && (ldx & 3) == 0 && aligned16(x) && aligned16(gate);
    if (sizeof(WT) == 2) dot_row_bf16<16>((const bf16*)w, x + h0, ldx, N, h1 - h0, vec, lane, acc);
    else dot_row_f32<16>((const float*)w, x + h0, ldx, N, h1 - h0, vec, lane, acc);
  }
  const int nt = one ? 1 : 16;  // batch 1: one sum (the others are zero and unused)
#pragma unroll
  for (int t = 0; t < 16; t++) {
    if (t < nt) {
      const float v = warp_sum(acc[t]);
      if (lane == 0) part[warp][t] = v;
    }
  }
  __syncthreads();
  if (threadIdx.x < epb * 16) {
    const int j = threadIdx.x >> 4, t = threadIdx.x & 15, ee = blockIdx.x * epb + j;
    if (ee < E && t < N) logits[(long long)t * E + ee] = ((part[4 * j][t] + part[4 * j + 1][t]) + part[4 * j + 2][t]) + part[4 * j + 3][t];
  }
  if (!TOPK) return;  // logits only: the consumer runs the top-k (moe_up1_topk)
  __threadfence();
  __syncthreads();
  TRACE_MARK(1);  // logits stored and fenced
  if (threadIdx.x == 0) last = atomicAdd(counter, 1) == (int)gridDim.x - 1;
  __syncthreads();
  TRACE_MARK(2);  // the ticket back
  if (!last) return;
  __threadfence();
  for (int n = warp; n < N; n += blockDim.x >> 5) {
    float* row = cs[warp];
    for (int j = lane; j < E; j += 32) row[j] = __ldcg(logits + (long long)n * E + j);
    __syncwarp();
    topk_token(row, bias, ids + (long long)n * K, wts + (long long)n * K, E, K, nGroup, topkGroup, normTopk, scale, row, lane);
    __syncwarp();
  }
  if (threadIdx.x == 0) *counter = 0;
}
extern "C" __global__ void PDL router_topk_bf16(const float* x, int ldx, const bf16* gate, const float* bias, float* logits, int* ids, float* wts, int* counter,
                                                int N, int H, int E, int K, int nGroup, int topkGroup, int normTopk, float scale) {
  router_topk_impl<bf16>(x, ldx, gate, bias, logits, ids, wts, counter, N, H, E, K, nGroup, topkGroup, normTopk, scale);
}
// router_topk_bf16 of one token whose input row is RMSNorm(a + b) (b, h, u may be null; stage_norm_row).
// grid: ceil(E / 2); block 256; shmem H * 4.
extern "C" __global__ void PDL router_topk_norm_bf16(const float* a, const float* b, float* h, const float* nw, float eps, float* u, const bf16* gate,
                                                     const float* bias, float* logits, int* ids, float* wts, int* counter, int H, int E, int K,
                                                     int nGroup, int topkGroup, int normTopk, float scale) {
  const NormIn norm = {a, b, h, nw, eps, u};
  router_topk_impl<bf16>(nullptr, H, gate, bias, logits, ids, wts, counter, 1, H, E, K, nGroup, topkGroup, normTopk, scale, &norm);
}
// The logits of router_topk_norm_bf16 alone (no ticket, no top-k): moe_up1_topk runs the top-k in every warp,
// beside its first (shared expert) rows, so the router's serial tail leaves the critical path.
// grid: ceil(E / 2); block 256; shmem H * 4.
extern "C" __global__ void PDL router_logits_norm_bf16(const float* a, const float* b, float* h, const float* nw, float eps, float* u, const bf16* gate,
                                                       float* logits, int H, int E) {
  const NormIn norm = {a, b, h, nw, eps, u};
  router_topk_impl<bf16, false>(nullptr, H, gate, nullptr, logits, nullptr, nullptr, nullptr, 1, H, E, 0, 1, 1, 0, 1.f, &norm);
}
extern "C" __global__ void PDL router_topk_f32(const float* x, int ldx, const float* gate, const float* bias, float* logits, int* ids, float* wts, int* counter,
                                               int N, int H, int E, int K, int nGroup, int topkGroup, int normTopk, float scale) {
  router_topk_impl<float>(x, ldx, gate, bias, logits, ids, wts, counter, N, H, E, K, nGroup, topkGroup, normTopk, scale);
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

// ---- decode MoE block (N <= 16 tokens, bf16 weights): routed experts + shared expert in two kernels ----------

// Up projections with relu^2: routed pair p (grid row y < NK; order, when given, lists pairs by expert) writes
// act[p, :I]; grid row y == NK (when the shared expert is given) computes the shared expert's Is rows for all N
// tokens into actS[n, :Is]. One warp per output row. grid: (ceil(max(I, Is) / 8), NK + 1); block 256.
extern "C" __global__ void PDL moe_up_fused(const float* x, int ldx, const int* ids, const int* order, const u64* upPtrs, float* act,
                                            const bf16* upS, float* actS, int N, int K, int H, int I, int Is) {
  const int lane = threadIdx.x & 31;
  const int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int NK = N * K;
  const bool shared = (int)blockIdx.y == NK;
  if (shared ? i >= Is : i >= I) return;
  if (shared) prefetch_l2(upS + (long long)i * H, (long long)H * 2, lane, 32);
  pdl_wait();
  pdl_launch();
  if (shared) {
    const bf16* W = upS + (long long)i * H;
    const bool vec = (H & 7) == 0 && (ldx & 3) == 0 && aligned16(x) && aligned16(W);
    if (N == 1 && vec) {
      const float v = warp_sum(dot_row_bf16_1(W, x, H, lane));
      const float r = v > 0.f ? v : 0.f;
      if (lane == 0) actS[i] = r * r;
      return;
    }
    for (int n0 = 0; n0 < N; n0 += 8) {
      float acc[8];
#pragma unroll
      for (int t = 0; t < 8; t++) acc[t] = 0.f;
      const int nt = min(8, N - n0);
      dot_row_bf16<8>(W, x + (long long)n0 * ldx, ldx, nt, H, vec, lane, acc);
#pragma unroll
      for (int t = 0; t < 8; t++) {
        const float v = warp_sum(acc[t]);
        if (lane == 0 && t < nt) {
          const float r = v > 0.f ? v : 0.f;
          actS[(long long)(n0 + t) * Is + i] = r * r;
        }
      }
    }
    return;
  }
  const int p = order ? order[blockIdx.y] : blockIdx.y;
  const int n = p / K;
  const bf16* W = (const bf16*)upPtrs[ids[p]] + (long long)i * H;
  const float* xr = x + (long long)n * ldx;
  const bool vec = (H & 7) == 0 && (ldx & 3) == 0 && aligned16(xr) && aligned16(W);
  float acc[1] = {0.f};
  if (vec) acc[0] = dot_row_bf16_1(W, xr, H, lane);
  else dot_row_bf16<1>(W, xr, ldx, 1, H, vec, lane, acc);
  const float v = warp_sum(acc[0]);
  if (lane == 0) {
    const float r = v > 0.f ? v : 0.f;
    act[(long long)p * I + i] = r * r;
  }
}

// Down projections and the weighted sum: out[n, o] = sum_k wts[n, k] * (down_{e_k}[o] . act[nK + k]) +
// downS[o] . actS[n]. The block's 8 warps share the terms: the K routed rows, then the shared row in S chunks
// (S = 8 - K when K < 8, so that every warp has work at top-6), each chunk a multiple of 8 columns; the partial
// sums are added in a fixed order (deterministic). grid: (H, N); block 256.
extern "C" __global__ void PDL moe_down_fused(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* actS,
                                              float* out, int K, int H, int I, int Is) {
  __shared__ float part[8][4];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int o = blockIdx.x;
  const long long n = blockIdx.y;
  const int S = downS ? (K < 8 ? 8 - K : 1) : 0;
  const int chunk = S ? ((Is + S - 1) / S + 7) & ~7 : 0;
  if (downS) {
    for (int t = warp; t < K + S; t += 8) {
      if (t < K) continue;
      const int c0 = (t - K) * chunk, c1 = min(Is, c0 + chunk);
      if (c0 < c1) prefetch_l2(downS + (long long)o * Is + c0, (long long)(c1 - c0) * 2, lane, 32);
    }
  }
  pdl_wait();
  pdl_launch();
  int slot = 0;
  for (int t = warp; t < K + S; t += 8, slot++) {
    float sum = 0.f;
    if (t < K) {
      const long long p = n * K + t;
      const bf16* W = (const bf16*)downPtrs[ids[p]] + (long long)o * I;
      const float* a = act + p * I;
      const bool vec = (I & 7) == 0 && aligned16(a) && aligned16(W);
      float acc[1] = {0.f};
      if (vec) acc[0] = dot_row_bf16_1(W, a, I, lane);
      else dot_row_bf16<1>(W, a, I, 1, I, vec, lane, acc);
      sum = wts[p] * warp_sum(acc[0]);
    } else {
      const int c0 = (t - K) * chunk, c1 = min(Is, c0 + chunk);
      if (c0 < c1) {
        const bf16* W = downS + (long long)o * Is + c0;
        const float* a = actS + n * Is + c0;
        const bool vec = (Is & 7) == 0 && aligned16(a) && aligned16(W);
        float acc[1] = {0.f};
        if (vec) acc[0] = dot_row_bf16_1(W, a, c1 - c0, lane);
        else dot_row_bf16<1>(W, a, Is, 1, c1 - c0, vec, lane, acc);
        sum = warp_sum(acc[0]);
      }
    }
    if (lane == 0 && slot < 4) part[warp][slot] = sum;
  }
  if (lane == 0) for (int j = slot; j < 4; j++) part[warp][j] = 0.f;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int j = 0; j < 4; j++)
      for (int w = 0; w < 8; w++) total += part[w][j];
    out[n * H + o] = total;
  }
}
