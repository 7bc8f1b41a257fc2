// sample.cu: token sampling on the GPU with the engine's semantics (src/engine/sampling.ts, vLLM order):
// temperature -> top-k -> top-p -> min-p -> draw. One 1024-thread block per row of logits; the candidate set is a
// bitmask in shared memory (V <= 262144). Top-k and top-p thresholds are found exactly by radix selection over
// order-preserving 32-bit keys of the logits (4 passes of 8 bits: by count for top-k, by probability mass for
// top-p); ties at a threshold keep the lowest token ids, as the host sampler's stable sort does. The draw walks
// the kept tokens in id order with the row's uniform number u: the same distribution as the host's walk in
// probability order (inverse CDF over any fixed order), reproducible for a given u.
#include "common.cuh"

#define SB 1024
#define MAX_WORDS 8192  // mask words: V <= 262144

__device__ __forceinline__ u32 fkey(float f) {
  const u32 u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float block_max(float v, float* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  return warp_max(lane < nw ? sh[lane] : NEG_INF);
}

__device__ __forceinline__ bool has(const u32* mask, int i) { return (mask[i >> 5] >> (i & 31)) & 1u; }

// Keeps only the first `keep` candidates (in id order) whose key equals k; one warp, ids in order (rare: ties).
__device__ void keep_first_equal(u32* mask, const float* x, int V, u32 k, int keep) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  int seen = 0;
  for (int base = 0; base < V; base += 32) {
    const int i = base + lane;
    const bool eq = i < V && has(mask, i) && fkey(x[i]) == k;
    const u32 b = __ballot_sync(FULL_MASK, eq);
    const int rank = seen + __popc(b & ((1u << lane) - 1u));
    const u32 drop = __ballot_sync(FULL_MASK, eq && rank >= keep);
    if (lane == 0 && drop) mask[base >> 5] &= ~drop;
    seen += __popc(b);
  }
}

// Drops the candidates whose key is below `prefix`; returns (to every thread) how many candidates equal it.
__device__ u32 cut_below(u32* mask, const float* x, int words, u32 prefix, float* red) {
  u32 eq = 0;
  for (int w = threadIdx.x; w < words; w += SB) {
    u32 bits = mask[w];
    for (int b = 0; b < 32; b++) {
      if (!((bits >> b) & 1u)) continue;
      const u32 k = fkey(x[(w << 5) + b]);
      if (k < prefix) bits &= ~(1u << b);
      else if (k == prefix) eq++;
    }
    mask[w] = bits;
  }
  __syncthreads();
  return (u32)block_sum((float)eq, red);
}

// out[r] = a token drawn from row r. temp > 0 (greedy rows use the argmax kernels); topk <= 0 or >= V: off;
// topp >= 1: off; minp <= 0: off; u in [0, 1). grid: rows; block 1024.
extern "C" __global__ void PDL __launch_bounds__(SB) sample_rows(const float* logits, int V, const float* temp, const int* topk, const float* topp,
                                                                const float* minp, const float* uni, int* out) {
  __shared__ u32 mask[MAX_WORDS];
  __shared__ u32 hc[256];
  __shared__ float hf[256];
  __shared__ float red[32];
  __shared__ u32 sel[2];     // selected prefix, remaining count
  __shared__ float self[2];  // remaining mass
  __shared__ float scan[SB / 32];
  __shared__ int pick;
  pdl_wait();
  pdl_launch();
  const int tid = threadIdx.x;
  const long long row = blockIdx.x;
  const float* x = logits + row * V;
  const float T = temp[row], P = topp[row], MP = minp[row], U = uni[row];
  const int K = topk[row];
  const int words = (V + 31) >> 5;

  // candidates: every token with a logit above -inf (NaN never)
  for (int w = tid; w < words; w += SB) {
    u32 bits = 0;
    for (int b = 0; b < 32; b++) {
      const int i = (w << 5) + b;
      if (i < V) {
        const float v = x[i];
        if (v > NEG_INF) bits |= 1u << b;  // false for NaN
      }
    }
    mask[w] = bits;
  }
  float m = NEG_INF;
  for (int i = tid; i < V; i += SB) m = fmaxf(m, x[i]);
  m = block_max(m, red);  // __syncthreads inside: mask is complete
  if (!(m > NEG_INF)) {
    if (tid == 0) out[row] = 0;
    return;
  }
  const float invT = 1.f / T;

  // top-k: the k-th largest key by radix selection over the candidates
  if (K > 0 && K < V) {
    u32 prefix = 0;
    u32 need = (u32)K;
    bool enough = true;
    for (int d = 3; d >= 0; d--) {
      for (int j = tid; j < 256; j += SB) hc[j] = 0;
      __syncthreads();
      const int sh = 8 * (d + 1);
      for (int i = tid; i < V; i += SB) {
        if (!has(mask, i)) continue;
        const u32 k = fkey(x[i]);
        if (d == 3 || (k >> sh) == prefix) atomicAdd(&hc[(k >> (8 * d)) & 255u], 1u);
      }
      __syncthreads();
      if (tid == 0) {
        u32 cum = 0;
        int b = 255;
        for (; b >= 0; b--) {
          if (cum + hc[b] >= need) break;
          cum += hc[b];
        }
        sel[0] = b < 0 ? 0xffffffffu : (prefix << 8) | (u32)b;
        sel[1] = need - cum;
      }
      __syncthreads();
      if (sel[0] == 0xffffffffu) { enough = false; break; }  // fewer candidates than k: nothing to cut
      prefix = sel[0];
      need = sel[1];
      __syncthreads();
    }
    if (enough) {
      const u32 eqAll = cut_below(mask, x, words, prefix, red);
      __syncthreads();
      if (eqAll > need) keep_first_equal(mask, x, V, prefix, (int)need);
      __syncthreads();
    }
  }

  // top-p over the candidates' probabilities exp((x - m) / T): the smallest set, by descending probability, whose
  // mass reaches P of the total
  if (P < 1.f) {
    float z = 0.f;
    for (int i = tid; i < V; i += SB) if (has(mask, i)) z += expf((x[i] - m) * invT);
    z = block_sum(z, red);
    float target = P * z;
    u32 prefix = 0;
    for (int d = 3; d >= 0; d--) {
      for (int j = tid; j < 256; j += SB) hf[j] = 0.f;
      __syncthreads();
      const int sh = 8 * (d + 1);
      for (int i = tid; i < V; i += SB) {
        if (!has(mask, i)) continue;
        const u32 k = fkey(x[i]);
        if (d == 3 || (k >> sh) == prefix) atomicAdd(&hf[(k >> (8 * d)) & 255u], expf((x[i] - m) * invT));
      }
      __syncthreads();
      if (tid == 0) {
        float cum = 0.f;
        int b = 255, last = -1;
        for (; b >= 0; b--) {
          if (hf[b] > 0.f) last = b;
          if (hf[b] > 0.f && cum + hf[b] >= target) break;
          cum += hf[b];
        }
        if (b < 0) b = last;  // rounding: the mass ran out first; take the smallest non-empty bin
        sel[0] = (prefix << 8) | (u32)b;
        self[0] = target - cum;
      }
      __syncthreads();
      prefix = sel[0];
      target = self[0];
      __syncthreads();
    }
    const u32 eqAll = cut_below(mask, x, words, prefix, red);
    // ties at the threshold each carry q; keep the fewest (>= 1) that reach the target
    const float kv = __uint_as_float((prefix & 0x80000000u) ? (prefix & 0x7fffffffu) : ~prefix);
    const float q = expf((kv - m) * invT);
    u32 keep = q > 0.f ? (u32)ceilf(target / q) : eqAll;
    keep = keep < 1u ? 1u : keep;
    __syncthreads();
    if (eqAll > keep) keep_first_equal(mask, x, V, prefix, (int)keep);
    __syncthreads();
  }

  // min-p: p >= MP * p_max  <=>  (x - m) / T >= ln MP
  if (MP > 0.f) {
    const float cut = m + T * logf(MP);
    for (int w = tid; w < words; w += SB) {
      u32 bits = mask[w];
      for (int b = 0; b < 32; b++) if (((bits >> b) & 1u) && x[(w << 5) + b] < cut) bits &= ~(1u << b);
      mask[w] = bits;
    }
    __syncthreads();
  }

  // draw: thread t owns ids [t * chunk, (t + 1) * chunk); block-wide exclusive scan of the chunk masses
  const int chunk = (V + SB - 1) / SB;
  const int c0 = tid * chunk, c1 = min(V, c0 + chunk);
  float own = 0.f;
  for (int i = c0; i < c1; i++) if (has(mask, i)) own += expf((x[i] - m) * invT);
  const int lane = tid & 31, warp = tid >> 5;
  float incl = own;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const float t = __shfl_up_sync(FULL_MASK, incl, o);
    if (lane >= o) incl += t;
  }
  if (lane == 31) scan[warp] = incl;
  if (tid == 0) pick = -1;
  __syncthreads();
  if (warp == 0) {
    float v = scan[lane];
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float t = __shfl_up_sync(FULL_MASK, v, o);
      if (lane >= o) v += t;
    }
    scan[lane] = v;  // inclusive over warps
  }
  __syncthreads();
  const float total = scan[(SB / 32) - 1];
  const float before = (warp ? scan[warp - 1] : 0.f) + incl - own;
  const float t = U * total;
  if (own > 0.f && t >= before && t < before + own) {
    float acc = before;
    int last = -1;
    for (int i = c0; i < c1; i++) {
      if (!has(mask, i)) continue;
      last = i;
      acc += expf((x[i] - m) * invT);
      if (t < acc) break;
    }
    atomicMax(&pick, last);  // one thread normally; float ties between neighbours resolve to one id
  }
  __syncthreads();
  if (pick < 0) {
    // rounding put t at or past the total: the last candidate
    int last = -1;
    for (int i = c0; i < c1; i++) if (has(mask, i)) last = i;
    atomicMax(&pick, last);
    __syncthreads();
  }
  if (tid == 0) out[row] = pick < 0 ? 0 : pick;
}
