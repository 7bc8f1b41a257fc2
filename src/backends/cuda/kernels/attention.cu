// attention.cu: causal GQA attention without positional encoding (model-spec 4) over per-sequence KV caches
// (float32 rows [capacity, kvHeads * hd]). kv_append writes this call's k, v rows at each cache's length first.
#include "common.cuh"

// grid: (ceil(kvw / 128), N tokens)
extern "C" __global__ void kv_append(const float* k, int ldk, const float* v, int ldv, int kvw, const int* tokSeg, const int* segStart,
                                     const int* past, const u64* kPtrs, const u64* vPtrs) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= kvw) return;
  const int t = blockIdx.y;
  const int s = tokSeg[t];
  const long long row = past[s] + (t - segStart[s]);
  ((float*)kPtrs[s])[row * kvw + c] = k[(long long)t * ldk + c];
  ((float*)vPtrs[s])[row * kvw + c] = v[(long long)t * ldv + c];
}

#define TILE 32
#define MAX_HD 128
#define MAX_G 16
#define WARPS 4
#define HPW (MAX_G / WARPS)  // query heads per warp
#define DPL (MAX_HD / 32)    // dims per lane

// One block per (query token, kv head): the G = heads / kvHeads query heads sharing that kv head. Keys are
// visited in tiles of 32 (one key per lane for the scores), with an online softmax per head.
// grid: (N tokens, kvHeads); block 128.
extern "C" __global__ void __launch_bounds__(128) attn_rows(const float* q, int ldq, float* out, int heads, int kvHeads, int hd, float scale,
                                                           const int* tokSeg, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) {
  __shared__ float Ks[TILE][MAX_HD + 1];
  __shared__ float Vs[TILE][MAX_HD];
  __shared__ float Qs[MAX_G][MAX_HD];
  const int t = blockIdx.x, kh = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int G = heads / kvHeads;
  const int kvw = kvHeads * hd;
  const int s = tokSeg[t];
  const int visible = past[s] + (t - segStart[s]) + 1;
  const float* Kc = (const float*)kPtrs[s] + kh * hd;
  const float* Vc = (const float*)vPtrs[s] + kh * hd;
  for (int idx = threadIdx.x; idx < G * hd; idx += blockDim.x) {
    const int g = idx / hd, d = idx % hd;
    Qs[g][d] = q[(long long)t * ldq + (kh * G + g) * hd + d];
  }
  float m[HPW], l[HPW], o[HPW][DPL];
#pragma unroll
  for (int hi = 0; hi < HPW; hi++) {
    m[hi] = NEG_INF;
    l[hi] = 0.f;
#pragma unroll
    for (int e = 0; e < DPL; e++) o[hi][e] = 0.f;
  }
  for (int j0 = 0; j0 < visible; j0 += TILE) {
    __syncthreads();
    for (int idx = threadIdx.x; idx < TILE * hd; idx += blockDim.x) {
      const int r = idx / hd, d = idx % hd;
      const int j = j0 + r;
      Ks[r][d] = j < visible ? Kc[(long long)j * kvw + d] : 0.f;
      Vs[r][d] = j < visible ? Vc[(long long)j * kvw + d] : 0.f;
    }
    __syncthreads();
    const int nk = min(TILE, visible - j0);
#pragma unroll
    for (int hi = 0; hi < HPW; hi++) {
      const int g = warp + WARPS * hi;
      if (g < G) {
        float sc = NEG_INF;
        if (lane < nk) {
          float dot = 0.f;
          for (int d = 0; d < hd; d++) dot += Qs[g][d] * Ks[lane][d];
          sc = dot * scale;
        }
        const float mnew = fmaxf(m[hi], warp_max(sc));
        const float corr = expf(m[hi] - mnew);
        const float pj = lane < nk ? expf(sc - mnew) : 0.f;
        l[hi] = l[hi] * corr + warp_sum(pj);
#pragma unroll
        for (int e = 0; e < DPL; e++) o[hi][e] *= corr;
        for (int r = 0; r < nk; r++) {
          const float pr = __shfl_sync(FULL_MASK, pj, r);
#pragma unroll
          for (int e = 0; e < DPL; e++) {
            const int d = lane + 32 * e;
            if (d < hd) o[hi][e] += pr * Vs[r][d];
          }
        }
        m[hi] = mnew;
      }
    }
  }
#pragma unroll
  for (int hi = 0; hi < HPW; hi++) {
    const int g = warp + WARPS * hi;
    if (g < G) {
      const float inv = 1.f / l[hi];
#pragma unroll
      for (int e = 0; e < DPL; e++) {
        const int d = lane + 32 * e;
        if (d < hd) out[(long long)t * heads * hd + (kh * G + g) * hd + d] = o[hi][e] * inv;
      }
    }
  }
}
