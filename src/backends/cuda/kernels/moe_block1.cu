// moe_block1.cu: the head of a batch-1 MoE layer in one launch: the router GEMV (gate rows) and the shared expert's
// up rows with relu^2, over the layer's input row (optionally RMSNorm(a + b), staged in every block by
// stage_norm_row), then the router's top-k by the last block to finish. As its own kernel the router cost about
// 10 us per layer on an H200 (knock-out in bench/cuda-decode-sweep.ts): a latency chain of GEMV, ticket and top-k
// on 0.7 MB of weights. Here the shared expert's 20 MB stream runs alongside it. The routed experts' up rows follow
// in moe_up1 (they need the ids), then moe_down1_res.
#include "common.cuh"
#include "gemv1.cuh"
#include "topk.cuh"

// Virtual rows: [0, E) gate rows -> logits[r]; [E, E + Is) shared up rows -> act[r - E] = relu(.)^2. Every weight
// row is known up front, so each warp's first row is loaded before pdl_wait. a, b, h, nw, eps, u: as
// stage_norm_row (nw null: the input row is a itself). counter: one int, zero between launches (reset here).
// grid: persistent (at most the resident blocks); block 128; shmem H * 4.
extern "C" __global__ void PDL __launch_bounds__(128) moe_route_shared1_l12(
    const float* a, const float* b, float* h, const float* nw, float eps, float* u, const bf16* gate, const float* bias, float* logits,
    int* ids, float* wts, int* counter, const bf16* upS, float* act, int E, int K, int H, int Is, int nGroup, int topkGroup, int normTopk,
    float scale, int pre) {
  extern __shared__ float4 xm4[];
  __shared__ float red[32];
  __shared__ float cs[256];
  __shared__ int last;
  gemv1_core<12>(
      H, E + Is, E + Is, pre, [&](int r) { return r < E ? gate + (long long)r * H : upS + (long long)(r - E) * H; },
      [&]() {
        if (nw) {
          stage_norm_row<2>(a, b, h, nw, eps, u, (float*)xm4, H, red);
          return;
        }
        stage_row_async((float*)xm4, a, H);
      },
      [&](int) { return (const float4*)xm4; },
      [&](int r, float v) {
        if (r < E) {
          logits[r] = v;
        } else {
          const float t = v > 0.f ? v : 0.f;
          act[r - E] = t * t;
        }
      });
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1) == (int)gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  if (threadIdx.x < 32) {
    for (int j = threadIdx.x; j < E; j += 32) cs[j] = __ldcg(logits + j);
    __syncwarp();
    topk_token(cs, bias, ids, wts, E, K, nGroup, topkGroup, normTopk, scale, cs, threadIdx.x);
  }
  if (threadIdx.x == 0) *counter = 0;
}
