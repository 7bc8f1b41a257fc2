// moe_gemm.cu: the routed experts (model-spec 5) as grouped GEMMs on tensor cores, entirely on the device so that
// a step stays graph-capturable (ops/moe-gemm.ts drives it):
//   moe_gemm_route    ids -> per-expert row ranges, perm (sorted row -> pair), inv (pair -> sorted row) and a tile
//                     list {expert, first sorted row, rows}; grids are sized for the worst case and read the tile
//                     count from the device, so nothing depends on the routing on the host
//   moe_gemm_x_bf16   x [N, H] f32 -> bf16 hi (+ lo = bf16(x - hi) in precise mode), not gathered: the up GEMM
//                     reads its A rows through perm
//   moe_gemm_up_*     act[j] = relu(up_e . x[perm[j] / K])^2 as bf16 hi (+ lo) [NK, I], sorted rows
//   moe_gemm_down_*   rows[j] = down_e . act[j] (f32) [NK, H], sorted rows
//   moe_gemm_combine  out[n] = sum_k w[n, k] rows[inv[n K + k]] in slot order (deterministic)
// The GEMMs are mma.sync m16n8k16 bf16 with f32 accumulation; A (activation rows) and B (an expert's weight rows)
// are both K-major, copied to shared memory with cp.async (multi-stage) in 16-byte chunks whose position in a row
// is XOR-swizzled so that ldmatrix reads are free of bank conflicts. In precise mode each k-step issues two mmas
// with the same weight fragment (hi and lo activations) into one accumulator. Three tile shapes: _s (16 rows:
// decode batches, a few rows per expert: streams each active expert's weights once), _m (64 rows) and _l (128 rows:
// prefill). K-dims (H, I) need only be multiples of 8: 16-byte chunks past the end are zero-filled.
#include "common.cuh"

// ---- PTX wrappers (sm_80+) ----
__device__ __forceinline__ u32 smem_u32(const void* p) {
  u32 a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return a;
}
// 16 bytes global -> shared, asynchronous; zero-filled (nothing read) when !valid
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void ldsm_x4(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
// d[16x8] += a[16x16] (row) . b[16x8] (col), bf16 inputs, f32 accumulators
__device__ __forceinline__ void mma_bf16(float* d, const u32* a, u32 b0, u32 b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// ---- end PTX wrappers ----

// Physical 16-byte chunk of logical chunk c in smem row r, rows of CH chunks (CH = 4: 64-byte rows, CH = 8: 128).
// The 8 rows an ldmatrix reads (r0..r0+7, r0 a multiple of 8) then cover all 32 banks once.
template <int CH>
__device__ __forceinline__ int swz(int r, int c) {
  return CH == 8 ? c ^ (r & 7) : c ^ ((r >> 1) & 3);
}

// One (tile, column block) of a grouped GEMM: out rows [tile.y, tile.y + tile.z) x columns [n0, n0 + BN) =
// A rows . W_e^T over Kd. UP: A row j is activation row perm[j] / K (x in bf16), epilogue relu^2 -> bf16 hi/lo;
// else A row j is row j (act), epilogue f32. Blocks map to (tile, column block) in groups of GM tiles (tile index
// fastest) so that the blocks running together share A rows and weight columns in L2; blocks past the end exit.
template <int BM, int BN, int BK, int WM, int WN, int STAGES, bool LO, bool UP>
__device__ __forceinline__ void moe_gemm_tile(const bf16* __restrict__ aHi, const bf16* __restrict__ aLo, const int* __restrict__ perm, int K,
                                              const int4* __restrict__ tiles, const int* __restrict__ numTiles, const u64* __restrict__ wPtrs,
                                              bf16* __restrict__ outHi, bf16* __restrict__ outLo, float* __restrict__ outF, int Kd, int Nw, int GM) {
  constexpr int CH = BK / 8;                      // 16-byte chunks per smem row
  constexpr int WARPS_N = BN / WN;
  constexpr int THREADS = 32 * (BM / WM) * WARPS_N;
  constexpr int MT = WM / 16, NT = WN / 8;        // m16 / n8 fragments per warp
  constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2;
  constexpr int STAGE_BYTES = A_BYTES * (LO ? 2 : 1) + B_BYTES;
  constexpr int A_PER = BM * CH / THREADS, B_PER = BN * CH / THREADS;
  static_assert(BM * CH % THREADS == 0 && BN * CH % THREADS == 0 && A_PER >= 1 && B_PER >= 1, "tile loads must divide evenly");
  static_assert(NT % 2 == 0 && (CH == 4 || CH == 8), "tile shape");
  static_assert(STAGES * STAGE_BYTES <= 48 * 1024, "static shared memory is limited to 48 KB");
  __shared__ __align__(128) unsigned char smem[STAGES * STAGE_BYTES];

  const int nTiles = *numTiles;
  const int nCols = (Nw + BN - 1) / BN;
  const int L = blockIdx.x;
  if (L >= nTiles * nCols) return;  // surplus block (the grid is sized for the worst-case routing)
  const int group = L / (GM * nCols);
  const int first = group * GM;
  const int gm = min(nTiles - first, GM);
  const int within = L - group * GM * nCols;
  const int4 tile = tiles[first + within % gm];   // {expert, first sorted row, rows, -}
  const int n0 = (within / gm) * BN;
  const int rows = tile.z;
  const bf16* __restrict__ W = (const bf16*)wPtrs[tile.x];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const u32 s0 = smem_u32(smem);

  // per-thread copy assignments (the same chunks at every k-step): smem offset, column, global row offset or -1
  u32 aDst[A_PER], bDst[B_PER];
  int aCol[A_PER], bCol[B_PER];
  long long aRow[A_PER], bRow[B_PER];
#pragma unroll
  for (int q = 0; q < A_PER; q++) {
    const int i = tid + q * THREADS, r = i / CH, c = i % CH;
    aDst[q] = (u32)(r * CH + swz<CH>(r, c)) * 16;
    aCol[q] = c * 8;
    aRow[q] = r < rows ? (long long)(UP ? perm[tile.y + r] / K : tile.y + r) * Kd : -1;
  }
#pragma unroll
  for (int q = 0; q < B_PER; q++) {
    const int i = tid + q * THREADS, r = i / CH, c = i % CH;
    bDst[q] = (u32)(r * CH + swz<CH>(r, c)) * 16;
    bCol[q] = c * 8;
    bRow[q] = n0 + r < Nw ? (long long)(n0 + r) * Kd : -1;
  }
  auto load = [&](int kt, int stage) {
    const u32 base = s0 + stage * STAGE_BYTES;
    const int k0 = kt * BK;
#pragma unroll
    for (int q = 0; q < A_PER; q++) {
      const int k = k0 + aCol[q];
      const bool v = aRow[q] >= 0 && k < Kd;
      cp_async16(base + aDst[q], v ? aHi + aRow[q] + k : aHi, v);
      if (LO) cp_async16(base + A_BYTES + aDst[q], v ? aLo + aRow[q] + k : aLo, v);
    }
#pragma unroll
    for (int q = 0; q < B_PER; q++) {
      const int k = k0 + bCol[q];
      const bool v = bRow[q] >= 0 && k < Kd;
      cp_async16(base + (LO ? 2 : 1) * A_BYTES + bDst[q], v ? W + bRow[q] + k : W, v);
    }
  };

  float acc[MT][NT][4];
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int v = 0; v < 4; v++) acc[mt][nt][v] = 0.f;

  const int wm = (warp / WARPS_N) * WM, wn = (warp % WARPS_N) * WN;
  // Warps whose rows all lie past the tile's last row skip the math (they still copy and synchronise).
  const bool active = wm < rows;
  // ldmatrix lane addresses: A rows wm + mt 16 + (lane & 15), chunk 2 kk + (lane >> 4); B rows wn + np 16 +
  // (lane & 7) + 8 (lane >> 4), chunk 2 kk + ((lane >> 3) & 1) (registers: b0, b1 of n8 tile 2 np, then 2 np + 1)
  const int aR = lane & 15, aC = lane >> 4;
  const int bR = (lane & 7) + ((lane >> 4) << 3), bC = (lane >> 3) & 1;

  const int KT = (Kd + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < KT) load(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < KT; kt++) {
    cp_async_wait<STAGES - 2>();  // k-tile kt has landed (this thread's copies) ...
    __syncthreads();              // ... everyone's; and everyone is done with the stage loaded next
    const int nk = kt + STAGES - 1;
    if (nk < KT) load(nk, nk % STAGES);
    cp_async_commit();
    if (active) {
      const u32 sA = s0 + (kt % STAGES) * STAGE_BYTES;
      const u32 sB = sA + (LO ? 2 : 1) * A_BYTES;
#pragma unroll
      for (int kk = 0; kk < BK / 16; kk++) {
        u32 af[MT][4], lf[LO ? MT : 1][4], bf[NT][2];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
          const int r = wm + mt * 16 + aR;
          const u32 off = (u32)(r * CH + swz<CH>(r, 2 * kk + aC)) * 16;
          ldsm_x4(sA + off, af[mt][0], af[mt][1], af[mt][2], af[mt][3]);
          if (LO) ldsm_x4(sA + A_BYTES + off, lf[mt][0], lf[mt][1], lf[mt][2], lf[mt][3]);
        }
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
          const int r = wn + np * 16 + bR;
          ldsm_x4(sB + (u32)(r * CH + swz<CH>(r, 2 * kk + bC)) * 16, bf[2 * np][0], bf[2 * np][1], bf[2 * np + 1][0], bf[2 * np + 1][1]);
        }
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
          for (int nt = 0; nt < NT; nt++) {
            mma_bf16(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
            if (LO) mma_bf16(acc[mt][nt], lf[mt], bf[nt][0], bf[nt][1]);
          }
      }
    }
  }
  cp_async_wait<0>();
  if (!active) return;

  // epilogue: accumulator v of fragment (mt, nt) is row wm + mt 16 + lane / 4 + 8 (v / 2), column wn + nt 8 +
  // 2 (lane % 4) + v % 2; columns come in pairs, and Nw is even, so a pair is either inside or past the end
  const int g = lane >> 2, t2 = (lane & 3) * 2;
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int r = wm + mt * 16 + g + 8 * h;
      if (r >= rows) continue;
      const long long o = (long long)(tile.y + r) * Nw;
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        const int col = n0 + wn + nt * 8 + t2;
        if (col >= Nw) continue;
        const float v0 = acc[mt][nt][2 * h], v1 = acc[mt][nt][2 * h + 1];
        if (UP) {
          const float r0 = v0 > 0.f ? v0 : 0.f, r1 = v1 > 0.f ? v1 : 0.f;
          const float a0 = r0 * r0, a1 = r1 * r1;
          const bf16 h0 = f2bf(a0), h1 = f2bf(a1);
          *(u32*)(outHi + o + col) = (u32)h0 | ((u32)h1 << 16);
          if (LO) *(u32*)(outLo + o + col) = (u32)f2bf(a0 - bf2f(h0)) | ((u32)f2bf(a1 - bf2f(h1)) << 16);
        } else {
          float2 f;
          f.x = v0;
          f.y = v1;
          *(float2*)(outF + o + col) = f;
        }
      }
    }
}

// Tile shapes <BM, BN, BK, WM, WN, stages>; precise mode (_p) fits its lo activations in the same 48 KB of shared
// memory. Up: A = x in bf16 (rows through perm), W = up_e [I, H], out act [NK, I]; down: A = act, W = down_e [H, I],
// out rows [NK, H] f32. (Parameter lists are spelled out: launch.ts parses them from this file.)
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_up_l(const bf16* xHi, const bf16* xLo, const int* perm, int K, const int4* tiles, const int* numTiles, const u64* upPtrs, bf16* actHi, bf16* actLo, int H, int I, int GM) {
  moe_gemm_tile<128, 128, 32, 32, 64, 3, false, true>(xHi, xLo, perm, K, tiles, numTiles, upPtrs, actHi, actLo, nullptr, H, I, GM);
}
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_up_l_p(const bf16* xHi, const bf16* xLo, const int* perm, int K, const int4* tiles, const int* numTiles, const u64* upPtrs, bf16* actHi, bf16* actLo, int H, int I, int GM) {
  moe_gemm_tile<128, 128, 32, 32, 64, 2, true, true>(xHi, xLo, perm, K, tiles, numTiles, upPtrs, actHi, actLo, nullptr, H, I, GM);
}
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_down_l(const bf16* actHi, const bf16* actLo, const int4* tiles, const int* numTiles, const u64* downPtrs, float* rows, int I, int H, int GM) {
  moe_gemm_tile<128, 128, 32, 32, 64, 3, false, false>(actHi, actLo, nullptr, 0, tiles, numTiles, downPtrs, nullptr, nullptr, rows, I, H, GM);
}
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_down_l_p(const bf16* actHi, const bf16* actLo, const int4* tiles, const int* numTiles, const u64* downPtrs, float* rows, int I, int H, int GM) {
  moe_gemm_tile<128, 128, 32, 32, 64, 2, true, false>(actHi, actLo, nullptr, 0, tiles, numTiles, downPtrs, nullptr, nullptr, rows, I, H, GM);
}

extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_up_m(const bf16* xHi, const bf16* xLo, const int* perm, int K, const int4* tiles, const int* numTiles, const u64* upPtrs, bf16* actHi, bf16* actLo, int H, int I, int GM) {
  moe_gemm_tile<64, 128, 32, 32, 32, 4, false, true>(xHi, xLo, perm, K, tiles, numTiles, upPtrs, actHi, actLo, nullptr, H, I, GM);
}
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_up_m_p(const bf16* xHi, const bf16* xLo, const int* perm, int K, const int4* tiles, const int* numTiles, const u64* upPtrs, bf16* actHi, bf16* actLo, int H, int I, int GM) {
  moe_gemm_tile<64, 128, 32, 32, 32, 3, true, true>(xHi, xLo, perm, K, tiles, numTiles, upPtrs, actHi, actLo, nullptr, H, I, GM);
}
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_down_m(const bf16* actHi, const bf16* actLo, const int4* tiles, const int* numTiles, const u64* downPtrs, float* rows, int I, int H, int GM) {
  moe_gemm_tile<64, 128, 32, 32, 32, 4, false, false>(actHi, actLo, nullptr, 0, tiles, numTiles, downPtrs, nullptr, nullptr, rows, I, H, GM);
}
extern "C" __global__ void __launch_bounds__(256, 2) moe_gemm_down_m_p(const bf16* actHi, const bf16* actLo, const int4* tiles, const int* numTiles, const u64* downPtrs, float* rows, int I, int H, int GM) {
  moe_gemm_tile<64, 128, 32, 32, 32, 3, true, false>(actHi, actLo, nullptr, 0, tiles, numTiles, downPtrs, nullptr, nullptr, rows, I, H, GM);
}

extern "C" __global__ void __launch_bounds__(128, 4) moe_gemm_up_s(const bf16* xHi, const bf16* xLo, const int* perm, int K, const int4* tiles, const int* numTiles, const u64* upPtrs, bf16* actHi, bf16* actLo, int H, int I, int GM) {
  moe_gemm_tile<16, 64, 64, 16, 16, 4, false, true>(xHi, xLo, perm, K, tiles, numTiles, upPtrs, actHi, actLo, nullptr, H, I, GM);
}
extern "C" __global__ void __launch_bounds__(128, 4) moe_gemm_up_s_p(const bf16* xHi, const bf16* xLo, const int* perm, int K, const int4* tiles, const int* numTiles, const u64* upPtrs, bf16* actHi, bf16* actLo, int H, int I, int GM) {
  moe_gemm_tile<16, 64, 64, 16, 16, 4, true, true>(xHi, xLo, perm, K, tiles, numTiles, upPtrs, actHi, actLo, nullptr, H, I, GM);
}
extern "C" __global__ void __launch_bounds__(128, 4) moe_gemm_down_s(const bf16* actHi, const bf16* actLo, const int4* tiles, const int* numTiles, const u64* downPtrs, float* rows, int I, int H, int GM) {
  moe_gemm_tile<16, 64, 64, 16, 16, 4, false, false>(actHi, actLo, nullptr, 0, tiles, numTiles, downPtrs, nullptr, nullptr, rows, I, H, GM);
}
extern "C" __global__ void __launch_bounds__(128, 4) moe_gemm_down_s_p(const bf16* actHi, const bf16* actLo, const int4* tiles, const int* numTiles, const u64* downPtrs, float* rows, int I, int H, int GM) {
  moe_gemm_tile<16, 64, 64, 16, 16, 4, true, false>(actHi, actLo, nullptr, 0, tiles, numTiles, downPtrs, nullptr, nullptr, rows, I, H, GM);
}

// Routing -> schedule, one block of 1024 threads (E <= 256). ids [NK] (pairs p = n K + k); ids outside [0, E)
// are dropped (inv = -1: they add nothing). Rows of one expert are contiguous in sorted order (their order among
// themselves follows the atomics; the result does not depend on it: each output row depends only on its own A row).
// Writes perm [NK] (sorted row -> pair), inv [NK], tiles [<= ceil(NK / BM) + E] and numTiles [1].
extern "C" __global__ void __launch_bounds__(1024) moe_gemm_route(const int* ids, int NK, int E, int BM, int* perm, int* inv, int4* tiles, int* numTiles) {
  __shared__ int cnt[256], fill[256], start[256], tstart[256];
  const int tid = threadIdx.x;
  for (int e = tid; e < 256; e += blockDim.x) {
    cnt[e] = 0;
    fill[e] = 0;
  }
  __syncthreads();
  for (int p = tid; p < NK; p += blockDim.x) {
    const int e = ids[p];
    if (e >= 0 && e < E) atomicAdd(&cnt[e], 1);
  }
  __syncthreads();
  if (tid < 32) {  // exclusive scans of row and tile counts, 8 experts per lane
    int c[8], tc[8], sc = 0, st = 0;
#pragma unroll
    for (int j = 0; j < 8; j++) {
      c[j] = cnt[tid * 8 + j];
      tc[j] = (c[j] + BM - 1) / BM;
      sc += c[j];
      st += tc[j];
    }
    int ic = sc, it = st;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int vc = __shfl_up_sync(FULL_MASK, ic, o), vt = __shfl_up_sync(FULL_MASK, it, o);
      if (tid >= o) {
        ic += vc;
        it += vt;
      }
    }
    int rc = ic - sc, rt = it - st;
#pragma unroll
    for (int j = 0; j < 8; j++) {
      start[tid * 8 + j] = rc;
      tstart[tid * 8 + j] = rt;
      rc += c[j];
      rt += tc[j];
    }
    if (tid == 31) *numTiles = it;
  }
  __syncthreads();
  for (int p = tid; p < NK; p += blockDim.x) {
    const int e = ids[p];
    if (e >= 0 && e < E) {
      const int j = start[e] + atomicAdd(&fill[e], 1);
      perm[j] = p;
      inv[p] = j;
    } else {
      inv[p] = -1;
    }
  }
  for (int e = tid; e < E; e += blockDim.x) {
    const int c = cnt[e];
    for (int m = 0, t = tstart[e]; m < c; m += BM, t++) {
      int4 d;
      d.x = e;
      d.y = start[e] + m;
      d.z = min(BM, c - m);
      d.w = 0;
      tiles[t] = d;
    }
  }
}

// x [N, H] (row stride ldx) -> bf16 hi [N, H] (+ lo = bf16(x - hi) when lo != 0), 8 columns per thread (H % 8 == 0).
extern "C" __global__ void moe_gemm_x_bf16(const float* x, int ldx, bf16* hi, bf16* lo, int N, int H) {
  const int H8 = H >> 3;
  const long long total = (long long)N * H8;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const long long n = i / H8;
    const int c = (int)(i - n * H8) * 8;
    const float* s = x + n * ldx + c;
    u32 h[4], l[4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
      const float v0 = s[2 * q], v1 = s[2 * q + 1];
      const bf16 h0 = f2bf(v0), h1 = f2bf(v1);
      h[q] = (u32)h0 | ((u32)h1 << 16);
      l[q] = (u32)f2bf(v0 - bf2f(h0)) | ((u32)f2bf(v1 - bf2f(h1)) << 16);
    }
    const long long o = n * H + c;
    uint4 hv, lv;
    hv.x = h[0]; hv.y = h[1]; hv.z = h[2]; hv.w = h[3];
    lv.x = l[0]; lv.y = l[1]; lv.z = l[2]; lv.w = l[3];
    *(uint4*)(hi + o) = hv;
    if (lo) *(uint4*)(lo + o) = lv;
  }
}

// out[n, :] = sum over k (ascending) of wts[n K + k] * rows[inv[n K + k], :]; dropped pairs (inv < 0) add nothing.
// 4 columns per thread (H % 4 == 0), grid-stride.
extern "C" __global__ void moe_gemm_combine(const float* rows, const int* inv, const float* wts, float* out, int N, int K, int H) {
  const int H4 = H >> 2;
  const long long total = (long long)N * H4;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const long long n = i / H4;
    const int c = (int)(i - n * H4) * 4;
    float4 s;
    s.x = s.y = s.z = s.w = 0.f;
    for (int k = 0; k < K; k++) {
      const long long p = n * K + k;
      const int j = inv[p];
      if (j < 0) continue;
      const float w = wts[p];
      const float4 r = *(const float4*)(rows + (long long)j * H + c);
      s.x += w * r.x;
      s.y += w * r.y;
      s.z += w * r.z;
      s.w += w * r.w;
    }
    *(float4*)(out + n * H + c) = s;
  }
}
