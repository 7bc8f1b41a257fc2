// route_fold.cu: the batch-1 MoE router folded into the GEMV before it (out_proj of a Mamba layer, o_proj of an
// attention layer), so that no router kernel sits between that GEMV and the expert rows.
//
// The layer boundary is hn = h + Wo y (the residual), u = nw * (hn * inv), inv = 1 / sqrt(mean(hn^2) + eps), then
// logits = G u. Since inv is one scalar,
//   logits[e] = inv * (sum_m G[e, m] nw[m] h[m] + sum_k F[e, k] y[k]),   F = (G diag(nw)) Wo   [E, K], float32,
// computed once per (Wo, G, nw) at load time (route_fold_weights, double accumulation). So the GEMV kernel
// (outproj_route) computes, beside Wo's rows, the E sums r[e] and per-block partial sums of hn^2; the up kernel
// (moe_up1_route) turns them into inv, the logits, the top-k and the staged row u in every block. The logits match
// the reference's up to float32 rounding (another association); hn is the reference's sum exactly.
// Before: a router kernel after the GEMV (norm staging, logits GEMV, ticket, top-k) cost about 9.7 us per MoE
// layer on the critical path of a batch-1 step on an H200.
#include "common.cuh"
#include "gemv1.cuh"  // gemv1_core
#include "topk.cuh"

// F[e, k] = sum_m G[e, m] nw[m] Wo[m, k] (double accumulation, rounded once). grid (ceil(K / 256), E); block 256.
extern "C" __global__ void route_fold_weights(const bf16* G, const float* nw, const bf16* Wo, float* F, int H, int K) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x, e = blockIdx.y;
  if (k >= K) return;
  const bf16* g = G + (long long)e * H;
  double acc = 0.0;
  for (int m = 0; m < H; m++) acc += (double)bf2f(g[m]) * (double)nw[m] * (double)bf2f(Wo[(long long)m * K + k]);
  F[(long long)e * K + k] = (float)acc;
}

// Blocks [ceil(E / 8), ...): yo[m] = Wo[m] . y (a warp per row, as gemv_bf16_n1: same products and order), hn[m] =
// h[m] + yo[m], and partial[block - ceil(E / 8)] = the block's sum of hn^2 (its 8 rows in order). Blocks before: warp e writes
// r[e] = F[e] . y + G[e] . (nw * h). Weights are pulled into L2 before pdl_wait. y [K], Wo [H, K] bf16, F [E, K]
// f32, G [E, H] bf16; K % 8 == 0, K <= 4096, H % 8 == 0, 16-byte aligned. grid ceil(H / 8) + ceil(E / 8); block 256.
extern "C" __global__ void PDL outproj_route(const float* y, const bf16* Wo, const float* h, float* yo, float* hn, float* partial, const float* F,
                                             const bf16* G, const float* nw, float* r, int K, int H, int E) {
  __shared__ float sq[8];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nbR = (E + 7) >> 3;  // the router blocks come first: they run in the first wave, not after it
  if ((int)blockIdx.x >= nbR) {
    const int b = blockIdx.x - nbR, m = b * 8 + warp;
    const bf16* wr = Wo + (long long)m * K;
    if (m < H) prefetch_l2(wr, (long long)K * 2, lane, 32);
    pdl_wait();
    pdl_launch();
    float v2 = 0.f;
    if (m < H) {
      const float acc = warp_sum(dot_row_bf16_1(wr, y, K, lane));
      if (lane == 0) {
        const float v = h[m] + acc;
        yo[m] = acc;
        hn[m] = v;
        v2 = v * v;
      }
    }
    if (lane == 0) sq[warp] = v2;
    __syncthreads();
    if (threadIdx.x == 0) {
      float s = 0.f;
      for (int i = 0; i < 8; i++) s += sq[i];
      partial[b] = s;
    }
    return;
  }
  const int e = blockIdx.x * 8 + warp;
  const float* fr = F + (long long)e * K;
  const bf16* gr = G + (long long)e * H;
  if (e < E) {
    prefetch_l2(fr, (long long)K * 4, lane, 32);
    prefetch_l2(gr, (long long)H * 2, lane, 32);
  }
  pdl_wait();
  pdl_launch();
  if (e >= E) return;
  const float4* f4 = (const float4*)fr;
  const float4* y4 = (const float4*)y;
  float acc = 0.f;
#pragma unroll 8
  for (int c = lane; c < (K >> 2); c += 32) {
    const float4 a = f4[c], b = y4[c];
    acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
  }
  const uint4* g8 = (const uint4*)gr;
  const float4* w4 = (const float4*)nw;
  const float4* h4 = (const float4*)h;
#pragma unroll 4
  for (int c = lane; c < (H >> 3); c += 32) {
    float f[8];
    unpack8(g8[c], f);
    const float4 wa = w4[2 * c], wb = w4[2 * c + 1], ha = h4[2 * c], hb = h4[2 * c + 1];
    acc += f[0] * (wa.x * ha.x) + f[1] * (wa.y * ha.y) + f[2] * (wa.z * ha.z) + f[3] * (wa.w * ha.w) + f[4] * (wb.x * hb.x) + f[5] * (wb.y * hb.y) +
           f[6] * (wb.z * hb.z) + f[7] * (wb.w * hb.w);
  }
  acc = warp_sum(acc);
  if (lane == 0) r[e] = acc;
}

// moe_up1 after outproj_route: after the wait every warp sums the nPart partials (fixed order: the same inv in
// every warp), hn is staged in shared memory and scaled in place to x = nw * (hn * inv) (block 0 also writes it to
// u), and every warp selects the experts from logits = inv * r (topk_token: the same result in every warp; block 0
// writes ids and wts for moe_down1_res). Then moe_up1's rows: shared first (loaded before the wait), routed by the
// selected ids; act = relu(.)^2. The partials, hn and r are read in one round trip. H % 4 == 0, H <= 3072,
// E <= 128, K <= 32. grid: persistent; block 128; shmem H * 4.
extern "C" __global__ void PDL __launch_bounds__(128, 7) moe_up1_route_l12(const float* hn, const float* partial, int nPart, const float* r, const float* nw, float eps,
                                                                        float* u, const float* bias, int* ids, float* wts, const u64* upPtrs, const bf16* upS, float* act,
                                                                        int K, int H, int I, int Is, int E, int nGroup, int topkGroup, int normTopk, float scale, int pre) {
  extern __shared__ float4 xr4[];
  __shared__ float cs[4][128];
  __shared__ int sIds[4][32];
  __shared__ float sWts[4][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  prefetch_l1(upPtrs, (long long)E * 8, threadIdx.x, blockDim.x);
  prefetch_l1(nw, (long long)H * 4, threadIdx.x, blockDim.x);
  prefetch_l1(bias, (long long)E * 4, threadIdx.x, blockDim.x);
  gemv1_core<12>(
      H, Is + K * I, Is, pre,
      [&](int row) {
        if (row < Is) return upS + (long long)row * H;
        const int v = row - Is;
        return (const bf16*)upPtrs[sIds[warp][v / I]] + (long long)(v % I) * H;
      },
      [&]() {
        float rv[4], s = 0.f;
#pragma unroll
        for (int j = 0; j < 4; j++) rv[j] = lane + 32 * j < E ? __ldcg(r + lane + 32 * j) : 0.f;
        for (int i = lane; i < nPart; i += 32) s += __ldcg(partial + i);
        float* xs = (float*)xr4;
        stage_row_async(xs, hn, H);  // hn into shared memory (the loads above are in flight with it); syncs
        s = warp_sum(s);
        const float inv = 1.f / sqrtf(s / H + eps);
        for (int c = threadIdx.x; c < H; c += blockDim.x) {
          const float v = nw[c] * (xs[c] * inv);
          xs[c] = v;
          if (u && blockIdx.x == 0) u[c] = v;
        }
#pragma unroll
        for (int j = 0; j < 4; j++)
          if (lane + 32 * j < E) cs[warp][lane + 32 * j] = inv * rv[j];
        __syncwarp();
        topk_token<4>(cs[warp], bias, sIds[warp], sWts[warp], E, K, nGroup, topkGroup, normTopk, scale, cs[warp], lane);
        __syncwarp();
        if (blockIdx.x == 0 && warp == 0 && lane < K) {
          ids[lane] = sIds[0][lane];
          wts[lane] = sWts[0][lane];
        }
        __syncthreads();
      },
      [&](int) { return (const float4*)xr4; },
      [&](int row, float v) {
        const float t = v > 0.f ? v : 0.f;
        act[row] = t * t;
      });
}
