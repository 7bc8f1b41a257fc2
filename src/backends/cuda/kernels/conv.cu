// conv.cu: Mamba-2 causal depthwise conv over xBC + SiLU (model-spec 3.3) and the conv-state update (3.9).
// Tokens of several sequences are packed; tokSeg[t] says which segment a token is in, segStart/segLen where the
// segment lies, states[s] points at that sequence's conv state [C, K-1] (raw inputs of its last K-1 tokens).
#include "common.cuh"

#define MAX_K 8

// grid: (ceil(C / 256), N tokens). Reads the old state for the first K-1 taps; the state is updated afterwards.
extern "C" __global__ void conv_silu(const float* x, int ldx, const float* w, const float* bias, float* out, int C, int K,
                                     const int* tokSeg, const int* segStart, const u64* states) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= C) return;
  const int t = blockIdx.y;
  const int s = tokSeg[t];
  const int start = segStart[s];
  const int i = t - start;
  const float* st = (const float*)states[s];
  float acc = bias ? bias[ch] : 0.f;
  for (int j = 0; j < K; j++) {
    const int tau = i - (K - 1) + j;
    const float v = tau < 0 ? st[ch * (K - 1) + (K - 1 + tau)] : x[(long long)(start + tau) * ldx + ch];
    acc += w[ch * K + j] * v;
  }
  out[(long long)t * C + ch] = silu(acc);
}

// New state = the last K-1 raw inputs of the segment (older ones from the old state when the segment is short).
// grid: (ceil(C / 256), segments).
extern "C" __global__ void conv_state_update(const float* x, int ldx, int C, int K, const int* segStart, const int* segLen, const u64* states) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= C) return;
  const int s = blockIdx.y;
  const int start = segStart[s], len = segLen[s];
  float* st = (float*)states[s] + (long long)ch * (K - 1);
  float nv[MAX_K];
#pragma unroll
  for (int j = 0; j < MAX_K - 1; j++) {
    if (j < K - 1) {
      const int tau = len - (K - 1) + j;
      nv[j] = tau < 0 ? st[K - 1 + tau] : x[(long long)(start + tau) * ldx + ch];
    }
  }
#pragma unroll
  for (int j = 0; j < MAX_K - 1; j++) if (j < K - 1) st[j] = nv[j];
}

// Decode: every segment is one token (token s = segment s); conv and state shift fused. grid: (ceil(C/256), N).
extern "C" __global__ void conv_step(const float* x, int ldx, const float* w, const float* bias, float* out, int C, int K, const u64* states) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= C) return;
  const int s = blockIdx.y;
  float* st = (float*)states[s] + (long long)ch * (K - 1);
  const float xv = x[(long long)s * ldx + ch];
  float win[MAX_K];
#pragma unroll
  for (int j = 0; j < MAX_K - 1; j++) if (j < K - 1) win[j] = st[j];
  float acc = bias ? bias[ch] : 0.f;
#pragma unroll
  for (int j = 0; j < MAX_K - 1; j++) if (j < K - 1) acc += w[ch * K + j] * win[j];
  acc += w[ch * K + K - 1] * xv;
  out[(long long)s * C + ch] = silu(acc);
#pragma unroll
  for (int j = 0; j < MAX_K - 2; j++) if (j < K - 2) st[j] = win[j + 1];
  st[K - 2] = xv;
}
