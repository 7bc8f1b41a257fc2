// ssm.cuh: pieces of the Mamba-2 scan shared by ssm.cu and mamba_step.cu.
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
