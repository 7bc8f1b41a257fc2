// ssm.cuh: pieces of the Mamba-2 scan shared by ssm.cu, mamba_step.cu and gemv.cu (mamba_step's deferred tail).
#pragma once
#include "common.cuh"

__device__ __forceinline__ float2 f2(float a, float b) {
  float2 r;
  r.x = a;
  r.y = b;
  return r;
}

// (dt, exp(dt A)) with dt = clamp(softplus(raw + bias), dtMin, dtMax) (model-spec 3.4)
__device__ __forceinline__ float2 dt_decay(float raw, float bias, float A, float dtMin, float dtMax) {
  float dv = softplus(raw + bias);
  dv = fminf(fmaxf(dv, dtMin), dtMax);
  return f2(dv, expf(dv * A));
}

// One step of a reduce-scatter over the lanes: v[0..2 O) -> v[0..O). A lane with bit O set keeps v[O..2 O), the
// partner (lane ^ O) keeps v[0..O); each adds the other's part of the values it keeps. After the steps O = 16 .. 1
// lane l holds in v[0] the warp's sum of value l.
template <int O>
__device__ __forceinline__ void butterfly(float* v, int lane) {
  const bool up = (lane & O) != 0;
#pragma unroll
  for (int k = 0; k < O; k++) {
    const float send = up ? v[k] : v[k + O];
    const float keep = up ? v[k + O] : v[k];
    v[k] = keep + __shfl_xor_sync(FULL_MASK, send, O);
  }
}

// ---- mamba_step's deferred tail (deferNorm), shared with the out_proj GEMV that takes it (gemv.cu) --------------
#define MS_CONV_MAX 8  // conv kernel width (mamba_step's MS_MAX_K)
// The group's inverse RMS exactly as mamba_step's last block computes it: the head partials summed in head order.
__device__ __forceinline__ float ms_group_inv(const float* partialRow, int g, int hpg, int gs, float eps) {
  float tot = 0.f;
  for (int k = 0; k < hpg; k++) tot += __ldcg(partialRow + g * hpg + k);
  return 1.f / sqrtf(tot / gs + eps);
}
// Shifts the B/C conv state of channel c (a B/C channel index, 0 <= c < 2 groups 128) of row s by one step: the
// window drops its oldest value and takes this step's input, as mamba_step's last block does.
__device__ __forceinline__ void ms_shift_bc(const float* proj, int ld, const u64* convStates, int s, int dInner, int c, int Km) {
  float* cs = (float*)convStates[s] + (long long)(dInner + c) * Km;
  const float v = proj[(long long)s * ld + dInner + dInner + c];  // z | xBC: channel dInner + c of xBC
  float w[MS_CONV_MAX - 1];
#pragma unroll
  for (int j = 0; j < MS_CONV_MAX - 2; j++) if (j < Km - 1) w[j] = __ldcg(cs + j + 1);
#pragma unroll
  for (int j = 0; j < MS_CONV_MAX - 2; j++) if (j < Km - 1) cs[j] = w[j];
  cs[Km - 1] = v;
}

