// topk.cuh: the router's top-k of one token by one warp (model-spec 5), shared by moe.cu and moe_block1.cu.
#pragma once
#include "common.cuh"

#define MAX_E_PER_LANE 8  // experts <= 256

// Top-k of one token's router logits by one warp: by biased score, ties to the lower expert id; weights = the
// unbiased sigmoid, renormalised, scaled. Group-limited routing (nGroup > 1): keep the topkGroup groups with the
// largest sum of their two best scores. cs: 256 floats of shared memory for this warp.
// A float's order as an unsigned key (-0 counts as +0, as the float compare does): larger float, larger key.
__device__ __forceinline__ u32 ordered_key(float f) {
  const u32 b = __float_as_uint(f + 0.f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

template <int MAXE = MAX_E_PER_LANE>
__device__ __forceinline__ void topk_token(const float* logits, const float* bias, int* ids, float* wts, int E, int K,
                                           int nGroup, int topkGroup, int normTopk, float scale, float* cs, int lane) {
  float sv[MAXE], cv[MAXE];
#pragma unroll
  for (int j = 0; j < MAXE; j++) {
    const int e = lane + 32 * j;
    if (e < E) {
      sv[j] = sigmoid(logits[e]);
      cv[j] = sv[j] + bias[e];
    } else {
      sv[j] = 0.f;
      cv[j] = NEG_INF;
    }
  }
  if (nGroup > 1) {
#pragma unroll
    for (int j = 0; j < MAXE; j++) if (lane + 32 * j < E) cs[lane + 32 * j] = cv[j];
    __syncwarp();
    u32 keep = 0;  // bit g set: group g kept (nGroup <= 32)
    if (lane == 0) {
      const int per = E / nGroup;
      float gsc[32];
      for (int g = 0; g < nGroup; g++) {
        float b1 = NEG_INF, b2 = NEG_INF;
        for (int e = g * per; e < (g + 1) * per; e++) {
          const float v = cs[e];
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
    for (int j = 0; j < MAXE; j++) {
      const int e = lane + 32 * j;
      if (e < E && !((keep >> (e / per)) & 1u)) cv[j] = NEG_INF;
    }
  }
  // K rounds of: each lane's best untaken candidate, then the warp's best by two redux ops on an order-preserving
  // key (value, then the lower expert id): two reductions, not five rounds of three shuffles. Lane k keeps round
  // k's expert and score, so the weights are written once, already scaled: the last block of the router wrote
  // them and read them back, one dependent L2 round trip per expert (4.6 us from the ticket to the router's end in
  // a traced H200 step, bench/cuda-step-trace.ts). 2.265 against 2.285 ms per batch-1 step (bench/cuda-decode-sweep.ts).
  u32 taken = 0;
  float wsum = 0.f, myS = 0.f;
  int myE = 0;
  for (int k = 0; k < K; k++) {
    float bv = NEG_INF, bs = 0.f;
    int be = 0x7fffffff;
#pragma unroll
    for (int j = 0; j < MAXE; j++) {
      const int e = lane + 32 * j;
      if (e < E && !((taken >> j) & 1u) && (cv[j] > bv || (cv[j] == bv && e < be))) { bv = cv[j]; be = e; bs = sv[j]; }
    }
    // keys: a lane without a candidate (be unset: NaN scores are never chosen) sends 0, below -inf's key
    const u32 key = be == 0x7fffffff ? 0u : ordered_key(bv);
    const u32 kmax = __reduce_max_sync(FULL_MASK, key);
    be = (int)__reduce_min_sync(FULL_MASK, key == kmax ? (u32)be : 0xffffffffu);
    bs = __shfl_sync(FULL_MASK, bs, be & 31);
    if ((be & 31) == lane) taken |= 1u << (be >> 5);
    wsum += bs;
    if (lane == k) myE = be, myS = bs;
  }
  const float norm = (normTopk ? 1.f / (wsum + 1e-20f) : 1.f) * scale;
  if (lane < K) {
    ids[lane] = myE;
    wts[lane] = myS * norm;
  }
}

