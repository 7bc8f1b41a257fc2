// attention.cu: causal GQA attention without positional encoding (model-spec 4) over per-sequence KV caches
// (float32 rows [capacity, kvHeads * hd]).
//
// Fast paths (head dims 8, 16, 32, 64, 128; at most 16 query heads per kv head), on tensor cores with TF32
// mma.sync (m16n8k8, float accumulation): TF32 keeps 10 mantissa bits of the float32 cache where bf16 keeps 7
// (relative error vs float64 ~5e-4 at the real shape, bf16 ~5e-3). Operands are rounded to nearest (cvt.rna); the
// cache rows are rounded once when written (kv_append with round = 1, attn_decode), so that the inner loops load
// them as they are. The G query heads that share a kv head are packed into the rows of one M tile: row r of a tile
// is (token r / G, head r % G), so a K/V tile staged once serves G heads.
// - attn_prefill_hd*: flash attention. A block (8 warps, 128 rows = 128 / G tokens of one segment) per (query
//   tile, kv head); K/V tiles of 32 keys staged in shared memory, the next tile prefetched into registers while
//   this one is used; online softmax in float32 (base 2: q is pre-scaled by log2(e) / sqrt(hd)); key tiles past a
//   warp's last visible key are skipped.
// - attn_decode_hd* + attn_combine: flash decoding for steps of one token per sequence. The keys of each (token,
//   kv head) are split over `nsplit` blocks (fixed by the batch size and the device, never by the cache lengths:
//   decode steps are replayed as CUDA graphs); each writes a partial (max, sum, unnormalised output) and
//   attn_combine merges them. A split's 4 warps take 8 keys at a time straight from global memory into mma
//   fragments. The step's own k, v row is read from the inputs and written to the cache by the same kernel. Steps
//   that mix prompt chunks with single tokens (continuous batching) run the chunks through attn_prefill and the
//   single tokens through attn_decode, so that a decoding sequence with a long context is split over many blocks.
// attn_rows (SIMT, any hd <= 128) stays as the fallback for other shapes.
//
// Fragment layouts of mma.m16n8k8 tf32 (lane = 4 * gid + tig): A a0 (gid, tig) a1 (gid+8, tig) a2 (gid, tig+4)
// a3 (gid+8, tig+4); B b0 (k tig, n gid) b1 (k tig+4, n gid); C c0 c1 (gid, 2 tig + 0/1) c2 c3 (gid+8, ...).
// The sums over the head dim (QK^T) and over keys (PV) may take their terms in any order, and PV's output columns
// may be permuted, so each lane's operands are chosen to be contiguous in memory (vector loads):
// - QK^T k-step kk = (KW/2) i + h: A/B column tig <-> dim KW*4*i + KW*tig + 2h, column tig+4 <-> that dim + 1.
// - PV k-step j (keys 8j..8j+7): column tig <-> key 8j + 2 tig, column tig+4 <-> key 8j + 2 tig + 1; then the
//   probabilities in C layout are the A fragment as they are ({c0, c2, c1, c3}).
// - PV n-tile nt = VW*p + h: output column gid <-> dim VW*8*p + VW*gid + h; so the C fragment of a lane covers
//   the 2*VW contiguous dims VW*8*p + 2*VW*tig + (0 .. 2VW-1): c0/c2 of h = 0..VW-1, then c1/c3.
#include "common.cuh"

// float32 -> TF32 (10 mantissa bits), round to nearest, ties away; the result as a .b32 operand or as a float
__device__ __forceinline__ u32 to_tf32(float x) {
  u32 r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float tf32_round(float x) { return __uint_as_float(to_tf32(x)); }

// grid: (ceil(kvw / 128), N tokens). round = 1: rows rounded to TF32 (the layout the fast kernels read).
extern "C" __global__ void PDL kv_append(const float* k, int ldk, const float* v, int ldv, int kvw, const int* tokSeg, const int* segStart,
                                         const int* past, const u64* kPtrs, const u64* vPtrs, int round) {
  pdl_wait();
  pdl_launch();
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= kvw) return;
  const int t = blockIdx.y;
  const int s = tokSeg[t];
  const long long row = past[s] + (t - segStart[s]);
  float kx = k[(long long)t * ldk + c], vx = v[(long long)t * ldv + c];
  if (round) {
    kx = tf32_round(kx);
    vx = tf32_round(vx);
  }
  ((float*)kPtrs[s])[row * kvw + c] = kx;
  ((float*)vPtrs[s])[row * kvw + c] = vx;
}

// ---- tensor-core helpers ----------------------------------------------------------------------------------------

__device__ __forceinline__ float ex2(float x) {  // 2^x; -inf -> 0
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ void mma_tf32(float* d, const u32* a, u32 b0, u32 b1) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// W consecutive floats (W = 1, 2, 4; p aligned to 4 * W bytes)
template <int W> struct Vec;
template <> struct Vec<1> {
  float v[1];
  __device__ __forceinline__ void load(const float* p) { v[0] = *p; }
  __device__ __forceinline__ void load_cg(const float* p) { v[0] = __ldcg(p); }
  __device__ __forceinline__ void store(float* p) const { *p = v[0]; }
  __device__ __forceinline__ void zero() { v[0] = 0.f; }
};
template <> struct Vec<2> {
  float v[2];
  __device__ __forceinline__ void load(const float* p) { const float2 x = *(const float2*)p; v[0] = x.x; v[1] = x.y; }
  __device__ __forceinline__ void load_cg(const float* p) { const float2 x = __ldcg((const float2*)p); v[0] = x.x; v[1] = x.y; }
  __device__ __forceinline__ void store(float* p) const { *(float2*)p = make_float2(v[0], v[1]); }
  __device__ __forceinline__ void zero() { v[0] = v[1] = 0.f; }
};
template <> struct Vec<4> {
  float v[4];
  __device__ __forceinline__ void load(const float* p) { const float4 x = *(const float4*)p; v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w; }
  __device__ __forceinline__ void load_cg(const float* p) { const float4 x = __ldcg((const float4*)p); v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w; }
  __device__ __forceinline__ void store(float* p) const { *(float4*)p = make_float4(v[0], v[1], v[2], v[3]); }
  __device__ __forceinline__ void zero() { v[0] = v[1] = v[2] = v[3] = 0.f; }
};

template <int HD> struct Cfg {
  static constexpr int KS = HD / 8;                                  // k-steps of QK^T = n-tiles of PV
  static constexpr int KW = HD % 16 == 0 ? 4 : 2;                    // floats per lane per key row, QK^T operands
  static constexpr int NKV = HD / (4 * KW);                          // KW-vectors per lane per row
  static constexpr int VW = HD % 32 == 0 ? 4 : HD % 16 == 0 ? 2 : 1; // floats per lane per key row, PV operands
  static constexpr int NVV = HD / (8 * VW);                          // VW-vectors per lane per row
  // shared-memory row strides (floats) that make the fragment loads bank-conflict free: K rows read as KW-vectors
  // by (gid, tig) at gid * KSTR + KW * tig; V rows at 2 tig * VSTR + VW * gid
  static constexpr int KSTR = HD + ((KW == 4 ? 16 : 8) - HD % 32 + 32) % 32;
  static constexpr int VSTR = HD + (4 - HD % 16 + 16) % 16;
};

// Q rows -> A fragments for every k-step (pre-scaled, TF32); a null row gives zeros.
template <int HD>
__device__ __forceinline__ void load_q(u32 (*qa)[4], const float* row0, const float* row1, float qscale, int tig) {
  typedef Cfg<HD> C;
#pragma unroll
  for (int e = 0; e < 2; e++) {
    const float* row = e ? row1 : row0;
#pragma unroll
    for (int i = 0; i < C::NKV; i++) {
      Vec<C::KW> x;
      if (row) x.load(row + C::KW * 4 * i + C::KW * tig);
      else x.zero();
#pragma unroll
      for (int h = 0; h < C::KW / 2; h++) {
        qa[i * (C::KW / 2) + h][e] = to_tf32(x.v[2 * h] * qscale);
        qa[i * (C::KW / 2) + h][2 + e] = to_tf32(x.v[2 * h + 1] * qscale);
      }
    }
  }
}

// Online-softmax update of one 16-row tile for a block of scores s[NT][4] (C layout, already masked with -inf):
// s becomes the probabilities, m / l (rows gid, gid+8) are updated, and o is rescaled when a row max moved.
template <int NT, int KS>
__device__ __forceinline__ void softmax_update(float (*s)[4], float* m, float* l, float (*o)[4]) {
  float corr[2];
#pragma unroll
  for (int e = 0; e < 2; e++) {
    float mx = m[e];
#pragma unroll
    for (int j = 0; j < NT; j++) mx = fmaxf(mx, fmaxf(s[j][2 * e], s[j][2 * e + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, 2));
    const float ms = mx == NEG_INF ? 0.f : mx;  // a row with nothing visible yet keeps p = 0
    corr[e] = ex2(m[e] - ms);
    m[e] = mx;
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < NT; j++) {
      s[j][2 * e] = ex2(s[j][2 * e] - ms);
      s[j][2 * e + 1] = ex2(s[j][2 * e + 1] - ms);
      sum += s[j][2 * e] + s[j][2 * e + 1];
    }
    l[e] = l[e] * corr[e] + sum;  // per-lane partial sums; the quad adds them up at the end
  }
  if (__any_sync(FULL_MASK, corr[0] != 1.f || corr[1] != 1.f)) {
#pragma unroll
    for (int nt = 0; nt < KS; nt++) {
      o[nt][0] *= corr[0]; o[nt][1] *= corr[0];
      o[nt][2] *= corr[1]; o[nt][3] *= corr[1];
    }
  }
}

// The 2*VW contiguous output dims of a lane for row e (0: gid, 1: gid+8) of vector group p, times `mul`.
template <int VW>
__device__ __forceinline__ void o_group(const float (*o)[4], int p, int e, float mul, float* dst8) {
#pragma unroll
  for (int h = 0; h < VW; h++) {
    dst8[h] = o[VW * p + h][2 * e] * mul;
    dst8[VW + h] = o[VW * p + h][2 * e + 1] * mul;
  }
}

template <int VW>
__device__ __forceinline__ void store_group(float* p, const float* v) {  // 2*VW floats, 8*VW-byte aligned
  Vec<VW> a, b;
#pragma unroll
  for (int h = 0; h < VW; h++) { a.v[h] = v[h]; b.v[h] = v[VW + h]; }
  a.store(p);
  b.store(p + VW);
}

// ---- prefill: flash attention -----------------------------------------------------------------------------------

#define PF_WARPS 8
#define PF_ROWS (16 * PF_WARPS)
#define PF_BN 32

// tiles: [n][3] = (segment, first token in the segment, tokens), segment -1 for padding entries.
// grid: n * kvHeads (block x = tile * kvHeads + kv head); block 256.
template <int HD>
__device__ __forceinline__ void attn_prefill(const float* __restrict__ q, int ldq, float* __restrict__ out, int heads, int kvHeads, float qscale,
                                             const int* tiles, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) {
  typedef Cfg<HD> C;
  __shared__ __align__(16) float Ks[PF_BN * C::KSTR];
  __shared__ __align__(16) float Vs[PF_BN * C::VSTR];
  const int tile = blockIdx.x / kvHeads, kh = blockIdx.x - tile * kvHeads;
  const int s = tiles[3 * tile];
  if (s < 0) return;
  const int tok0 = tiles[3 * tile + 1], ntok = tiles[3 * tile + 2];
  const int G = heads / kvHeads;
  const int kvw = kvHeads * HD;
  const int p0 = past[s];
  const int first = segStart[s] + tok0;  // packed index of the tile's first token
  const float* Kc = (const float*)kPtrs[s] + kh * HD;
  const float* Vc = (const float*)vPtrs[s] + kh * HD;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gid = lane >> 2, tig = lane & 3;

  // this lane's two rows: token (clamped into the tile for padding rows), head, last visible key
  int rtok[2], rhead[2], lim[2];
  bool valid[2];
#pragma unroll
  for (int e = 0; e < 2; e++) {
    const int r = warp * 16 + gid + 8 * e;
    const int ti = r / G;
    valid[e] = ti < ntok;
    rhead[e] = r - ti * G;
    rtok[e] = min(ti, ntok - 1);
    lim[e] = p0 + tok0 + rtok[e];
  }
  const bool active = __any_sync(FULL_MASK, valid[0] || valid[1]);
  int wmax = max(lim[0], lim[1]), wmin = min(lim[0], lim[1]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    wmax = max(wmax, __shfl_xor_sync(FULL_MASK, wmax, o));
    wmin = min(wmin, __shfl_xor_sync(FULL_MASK, wmin, o));
  }

  u32 qa[C::KS][4];
  load_q<HD>(qa, q + (long long)(first + rtok[0]) * ldq + (kh * G + rhead[0]) * HD, q + (long long)(first + rtok[1]) * ldq + (kh * G + rhead[1]) * HD,
             qscale, tig);

  const int kend = p0 + tok0 + ntok;  // keys [0, kend) are visible to some row of the tile
  const int ntiles = (kend + PF_BN - 1) / PF_BN;
  constexpr int CH = HD / 4;                       // float4 chunks per key row
  constexpr int NCH = PF_BN * CH;                  // chunks per tile (each of K and V)
  constexpr int PER = (NCH + PF_WARPS * 32 - 1) / (PF_WARPS * 32);
  float4 kr[PER], vr[PER];
  auto fetch = [&](int j0) {
#pragma unroll
    for (int u = 0; u < PER; u++) {
      const int c = threadIdx.x + PF_WARPS * 32 * u;
      const int j = j0 + c / CH, d = (c % CH) * 4;
      kr[u] = vr[u] = make_float4(0.f, 0.f, 0.f, 0.f);  // keys past the end are zeros (the cache there may hold NaN)
      if ((NCH % (PF_WARPS * 32) == 0 || c < NCH) && j < kend) {
        kr[u] = *(const float4*)(Kc + (long long)j * kvw + d);
        vr[u] = *(const float4*)(Vc + (long long)j * kvw + d);
      }
    }
  };
  auto stage = [&]() {
#pragma unroll
    for (int u = 0; u < PER; u++) {
      const int c = threadIdx.x + PF_WARPS * 32 * u;
      if (NCH % (PF_WARPS * 32) == 0 || c < NCH) {
        const int jj = c / CH, d = (c % CH) * 4;
        *(float4*)(Ks + jj * C::KSTR + d) = kr[u];
        *(float4*)(Vs + jj * C::VSTR + d) = vr[u];
      }
    }
  };

  float o[C::KS][4];
#pragma unroll
  for (int nt = 0; nt < C::KS; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.f;
  float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.f, 0.f};

  fetch(0);
  for (int it = 0; it < ntiles; it++) {
    const int j0 = it * PF_BN;
    stage();
    __syncthreads();
    if (it + 1 < ntiles) fetch(j0 + PF_BN);  // in flight while this tile is used
    if (active && j0 <= wmax) {
      float sc[PF_BN / 8][4];
#pragma unroll
      for (int j = 0; j < PF_BN / 8; j++) sc[j][0] = sc[j][1] = sc[j][2] = sc[j][3] = 0.f;
#pragma unroll
      for (int i = 0; i < C::NKV; i++) {
#pragma unroll
        for (int j = 0; j < PF_BN / 8; j++) {
          Vec<C::KW> kv;
          kv.load(Ks + (8 * j + gid) * C::KSTR + C::KW * 4 * i + C::KW * tig);
#pragma unroll
          for (int h = 0; h < C::KW / 2; h++) mma_tf32(sc[j], qa[i * (C::KW / 2) + h], __float_as_uint(kv.v[2 * h]), __float_as_uint(kv.v[2 * h + 1]));
        }
      }
      if (j0 + PF_BN - 1 > wmin) {  // the causal edge crosses this tile for some row of the warp
#pragma unroll
        for (int j = 0; j < PF_BN / 8; j++) {
          const int key = j0 + 8 * j + 2 * tig;
#pragma unroll
          for (int e = 0; e < 2; e++) {
            if (key > lim[e]) sc[j][2 * e] = NEG_INF;
            if (key + 1 > lim[e]) sc[j][2 * e + 1] = NEG_INF;
          }
        }
      }
      softmax_update<PF_BN / 8, C::KS>(sc, m, l, o);
#pragma unroll
      for (int j = 0; j < PF_BN / 8; j++) {
        const u32 pa[4] = {to_tf32(sc[j][0]), to_tf32(sc[j][2]), to_tf32(sc[j][1]), to_tf32(sc[j][3])};
        const float* v0 = Vs + (8 * j + 2 * tig) * C::VSTR + C::VW * gid;
#pragma unroll
        for (int p = 0; p < C::NVV; p++) {
          Vec<C::VW> a, b;
          a.load(v0 + C::VW * 8 * p);
          b.load(v0 + C::VSTR + C::VW * 8 * p);
#pragma unroll
          for (int h = 0; h < C::VW; h++) mma_tf32(o[C::VW * p + h], pa, __float_as_uint(a.v[h]), __float_as_uint(b.v[h]));
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int e = 0; e < 2; e++) {
    float sum = l[e];
    sum += __shfl_xor_sync(FULL_MASK, sum, 1);
    sum += __shfl_xor_sync(FULL_MASK, sum, 2);
    if (!valid[e]) continue;
    const float inv = 1.f / sum;
    float* row = out + (long long)(first + rtok[e]) * heads * HD + (kh * G + rhead[e]) * HD;
#pragma unroll
    for (int p = 0; p < C::NVV; p++) {
      float v8[2 * C::VW];
      o_group<C::VW>(o, p, e, inv, v8);
      store_group<C::VW>(row + C::VW * 8 * p + 2 * C::VW * tig, v8);
    }
  }
}

// ---- decode: flash decoding -------------------------------------------------------------------------------------

#define DC_WARPS 4
#define DC_MIN_CHUNK (8 * DC_WARPS)

// Keys per split for a context of len keys over nsplit splits (a multiple of DC_MIN_CHUNK); also used by the host.
__device__ __forceinline__ int dec_chunk(int len, int nsplit) {
  const int per = (len + nsplit - 1) / nsplit;
  return max(DC_MIN_CHUNK, (per + DC_MIN_CHUNK - 1) / DC_MIN_CHUNK * DC_MIN_CHUNK);
}

// Items of one token each: item i is token items[2i] of sequence items[2i + 1] (items null: token i of sequence
// i, a decode step), past[sequence] rows in its cache before this call. grid: (nsplit, kvHeads, items); block 128.
// append = 1: the token's k, v row is read from kin / vin and written to the cache here; 0: kv_append did it.
// Split sp takes keys [sp * chunk, min(len, (sp + 1) * chunk)), len = past + 1; splits past the end exit at once.
// With one split in use the result goes to out; otherwise part [items, kvHeads, nsplit, G, hd] gets the
// unnormalised outputs and ml [items, kvHeads, nsplit, G, 2] the (max, sum) pairs, and attn_combine finishes.
template <int HD>
__device__ __forceinline__ void attn_decode(const float* __restrict__ q, int ldq, const float* __restrict__ kin, int ldk, const float* __restrict__ vin, int ldv,
                                            float* __restrict__ out, int heads, int kvHeads, float qscale, int nsplit, const int* items, int append,
                                            const int* past, const u64* kPtrs, const u64* vPtrs, float* __restrict__ part, float* __restrict__ ml) {
  typedef Cfg<HD> C;
  __shared__ __align__(16) float Os[2][16 * HD];
  __shared__ float Ms[DC_WARPS][16], Ls[DC_WARPS][16];
  // Before pdl_wait: step metadata (items, past, the cache pointers) and the cache rows of earlier steps (written
  // two or more launches back; through L2); the step's own k, v row, q and the append come after it.
  const int sp = blockIdx.x, kh = blockIdx.y, item = blockIdx.z;
  const int tk = items ? items[2 * item] : item, sq = items ? items[2 * item + 1] : item;
  const int G = heads / kvHeads;
  const int kvw = kvHeads * HD;
  const int len = past[sq] + 1;
  const int chunk = dec_chunk(len, nsplit);
  const int nact = (len + chunk - 1) / chunk;
  if (sp >= nact) return;  // touches nothing: may exit before the wait
  float* Kc = (float*)kPtrs[sq] + kh * HD;
  float* Vc = (float*)vPtrs[sq] + kh * HD;
  const float* knew = kin + (long long)tk * ldk + kh * HD;
  const float* vnew = vin + (long long)tk * ldv + kh * HD;
  // the step's own key: from the inputs (append: written to the cache here), or the cache row kv_append wrote in
  // this step (which may still be running: read after the wait either way)
  const int last = len - 1;
  const float* kl = append ? knew : Kc + (long long)last * kvw;
  const float* vl = append ? vnew : Vc + (long long)last * kvw;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gid = lane >> 2, tig = lane & 3;
  const int kb = sp * chunk, ke = min(len, kb + chunk);
  // K rows j0 + gid (n = gid), V rows j0 + 2 tig and j0 + 2 tig + 1 (k = tig, tig + 4); zeros past ke. The rows of
  // earlier steps first (loadCache), then the row `last` (loadNew, after the wait).
  Vec<C::KW> kv[C::NKV];
  Vec<C::VW> va[C::NVV], vb[C::NVV];
  auto loadCache = [&](int j0) {
    const int jk = j0 + gid, ja = j0 + 2 * tig, jb = ja + 1;
#pragma unroll
    for (int i = 0; i < C::NKV; i++) {
      if (jk < ke && jk != last) kv[i].load_cg(Kc + (long long)jk * kvw + C::KW * 4 * i + C::KW * tig);
      else kv[i].zero();
    }
#pragma unroll
    for (int p = 0; p < C::NVV; p++) {
      if (ja < ke && ja != last) va[p].load_cg(Vc + (long long)ja * kvw + C::VW * 8 * p + C::VW * gid);
      else va[p].zero();
      if (jb < ke && jb != last) vb[p].load_cg(Vc + (long long)jb * kvw + C::VW * 8 * p + C::VW * gid);
      else vb[p].zero();
    }
  };
  auto loadNew = [&](int j0) {
    if (last < j0 || last >= j0 + 8) return;  // warp-uniform
    const int jk = j0 + gid, ja = j0 + 2 * tig, jb = ja + 1;
#pragma unroll
    for (int i = 0; i < C::NKV; i++) if (jk == last) kv[i].load(kl + C::KW * 4 * i + C::KW * tig);
#pragma unroll
    for (int p = 0; p < C::NVV; p++) {
      if (ja == last) va[p].load(vl + C::VW * 8 * p + C::VW * gid);
      if (jb == last) vb[p].load(vl + C::VW * 8 * p + C::VW * gid);
    }
  };
  int j0 = kb + 8 * warp;
  if (j0 < ke) loadCache(j0);
  pdl_wait();  // q, k, v come from the kernels before
  pdl_launch();
  if (append && sp == 0) {
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
      Kc[(long long)last * kvw + d] = tf32_round(knew[d]);
      Vc[(long long)last * kvw + d] = tf32_round(vnew[d]);
    }
  }
  const float* qrow = q + (long long)tk * ldq + kh * G * HD;
  u32 qa[C::KS][4];
  load_q<HD>(qa, gid < G ? qrow + gid * HD : nullptr, gid + 8 < G ? qrow + (gid + 8) * HD : nullptr, qscale, tig);

  float o[C::KS][4];
#pragma unroll
  for (int nt = 0; nt < C::KS; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.f;
  float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.f, 0.f};
  for (; j0 < ke; j0 += 8 * DC_WARPS) {
    loadNew(j0);
    float sc[1][4] = {{0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int i = 0; i < C::NKV; i++) {
#pragma unroll
      for (int h = 0; h < C::KW / 2; h++) mma_tf32(sc[0], qa[i * (C::KW / 2) + h], to_tf32(kv[i].v[2 * h]), to_tf32(kv[i].v[2 * h + 1]));
    }
    {
      const int key = j0 + 2 * tig;
      if (key >= ke) sc[0][0] = sc[0][2] = NEG_INF;
      if (key + 1 >= ke) sc[0][1] = sc[0][3] = NEG_INF;
    }
    softmax_update<1, C::KS>(sc, m, l, o);
    const u32 pa[4] = {to_tf32(sc[0][0]), to_tf32(sc[0][2]), to_tf32(sc[0][1]), to_tf32(sc[0][3])};
#pragma unroll
    for (int p = 0; p < C::NVV; p++) {
#pragma unroll
      for (int h = 0; h < C::VW; h++) mma_tf32(o[C::VW * p + h], pa, to_tf32(va[p].v[h]), to_tf32(vb[p].v[h]));
    }
    if (j0 + 8 * DC_WARPS < ke) loadCache(j0 + 8 * DC_WARPS);
  }

  // merge the warps: common max per row, then the outputs summed in a fixed order (deterministic)
#pragma unroll
  for (int e = 0; e < 2; e++) {
    l[e] += __shfl_xor_sync(FULL_MASK, l[e], 1);
    l[e] += __shfl_xor_sync(FULL_MASK, l[e], 2);
    if (tig == 0) {
      Ms[warp][gid + 8 * e] = m[e];
      Ls[warp][gid + 8 * e] = l[e];
    }
  }
  __syncthreads();
  float M[2], L[2];
#pragma unroll
  for (int e = 0; e < 2; e++) {
    const int r = gid + 8 * e;
    M[e] = NEG_INF;
#pragma unroll
    for (int w = 0; w < DC_WARPS; w++) M[e] = fmaxf(M[e], Ms[w][r]);
    L[e] = 0.f;
#pragma unroll
    for (int w = 0; w < DC_WARPS; w++) L[e] += Ms[w][r] == NEG_INF ? 0.f : Ls[w][r] * ex2(Ms[w][r] - M[e]);
    const float f = m[e] == NEG_INF ? 0.f : ex2(m[e] - M[e]);  // warps without keys hold zeros
#pragma unroll
    for (int nt = 0; nt < C::KS; nt++) { o[nt][2 * e] *= f; o[nt][2 * e + 1] *= f; }
  }
  // lane (gid, tig) owns the same dims in every warp: partner warps exchange through Os at those positions
  auto put = [&](float* dst) {
#pragma unroll
    for (int e = 0; e < 2; e++)
#pragma unroll
      for (int p = 0; p < C::NVV; p++) {
        float v8[2 * C::VW];
        o_group<C::VW>(o, p, e, 1.f, v8);
        store_group<C::VW>(dst + (gid + 8 * e) * HD + C::VW * 8 * p + 2 * C::VW * tig, v8);
      }
  };
  auto add = [&](const float* src) {
#pragma unroll
    for (int e = 0; e < 2; e++)
#pragma unroll
      for (int p = 0; p < C::NVV; p++) {
        const float* s8 = src + (gid + 8 * e) * HD + C::VW * 8 * p + 2 * C::VW * tig;
#pragma unroll
        for (int h = 0; h < C::VW; h++) {
          o[C::VW * p + h][2 * e] += s8[h];
          o[C::VW * p + h][2 * e + 1] += s8[C::VW + h];
        }
      }
  };
  if (warp >= 2) put(Os[warp - 2]);
  __syncthreads();
  if (warp < 2) add(Os[warp]);
  __syncthreads();
  if (warp == 1) put(Os[0]);
  __syncthreads();
  if (warp != 0) return;
  add(Os[0]);

  const long long pbase = ((long long)item * kvHeads + kh) * nsplit + sp;  // this split's slot
#pragma unroll
  for (int e = 0; e < 2; e++) {
    const int r = gid + 8 * e;
    if (r >= G) continue;
    const float mul = nact == 1 ? 1.f / L[e] : 1.f;
    float* dst = nact == 1 ? out + (long long)tk * heads * HD + (kh * G + r) * HD : part + (pbase * G + r) * HD;
#pragma unroll
    for (int p = 0; p < C::NVV; p++) {
      float v8[2 * C::VW];
      o_group<C::VW>(o, p, e, mul, v8);
      store_group<C::VW>(dst + C::VW * 8 * p + 2 * C::VW * tig, v8);
    }
    if (nact > 1 && tig == 0) {
      ml[(pbase * G + r) * 2] = M[e];
      ml[(pbase * G + r) * 2 + 1] = L[e];
    }
  }
}

// Merges the splits of attn_decode (when more than one was in use). Thread s < nact takes split s's (max, sum), the
// block reduces them (max, then the weighted sums in a fixed tree order: deterministic), and thread d sums dim d
// over the splits from batches of 32 independent loads: after the wait, two round trips up to 32 splits.
// grid: (heads, items); block 128 (hd <= 128, nsplit <= 128).
// It lets the next kernel launch at its start (pdl_launch_early): o_proj pulls only its weight rows into L2 before
// its wait, and so they load while the attention runs: 2.253 against 2.260-2.262 ms per batch-1 step over 1,024
// steps (the s7-early sweep at de6f31e; attn_decode triggering early as well: 2.254-2.255).
extern "C" __global__ void PDL attn_combine(float* out, int heads, int kvHeads, int hd, int nsplit, const int* items, const int* past, const float* part,
                                            const float* ml) {
  __shared__ float sw[128], red[4];
  pdl_launch_early();
  const int h = blockIdx.x, item = blockIdx.y, t = threadIdx.x, warp = t >> 5, lane = t & 31;
  // step metadata: before the wait
  const int tk = items ? items[2 * item] : item, sq = items ? items[2 * item + 1] : item;
  const int len = past[sq] + 1;
  const int chunk = dec_chunk(len, nsplit);
  const int nact = (len + chunk - 1) / chunk;
  if (nact <= 1) return;  // attn_decode wrote out itself
  const int G = heads / kvHeads, kh = h / G, g = h - kh * G;
  const long long base = ((long long)item * kvHeads + kh) * nsplit;
  pdl_wait();
  float ms = NEG_INF, ls = 0.f;
  if (t < nact) {
    const long long slot = (base + t) * G + g;
    ms = ml[slot * 2];
    ls = ml[slot * 2 + 1];
  }
  float M = warp_max(ms);
  if (lane == 0) red[warp] = M;
  __syncthreads();
  M = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
  __syncthreads();
  const float w = t < nact ? ex2(ms - M) : 0.f;
  sw[t] = w;
  float L = warp_sum(ls * w);
  if (lane == 0) red[warp] = L;
  __syncthreads();
  L = (red[0] + red[1]) + (red[2] + red[3]);
  if (t >= hd) return;
  const float* pd = part + base * G * hd + (long long)g * hd + t;  // split s at pd[s * G * hd]
  const long long step = (long long)G * hd;
  float acc = 0.f;
  for (int s0 = 0; s0 < nact; s0 += 32) {  // 32 loads in flight, then the sums in split order
    float pv[32];
#pragma unroll
    for (int j = 0; j < 32; j++) pv[j] = s0 + j < nact ? pd[(s0 + j) * step] : 0.f;
#pragma unroll
    for (int j = 0; j < 32; j++) if (s0 + j < nact) acc += pv[j] * sw[s0 + j];
  }
  out[(long long)tk * heads * hd + h * hd + t] = acc / L;
}

// ---- instantiations (written out: launch.ts reads the signatures from this text) ----------------------------------

#define PF_PASS q, ldq, out, heads, kvHeads, qscale, tiles, segStart, past, kPtrs, vPtrs
extern "C" __global__ void __launch_bounds__(256, 1) attn_prefill_hd8(const float* q, int ldq, float* out, int heads, int kvHeads, float qscale, const int* tiles, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) { attn_prefill<8>(PF_PASS); }
extern "C" __global__ void __launch_bounds__(256, 1) attn_prefill_hd16(const float* q, int ldq, float* out, int heads, int kvHeads, float qscale, const int* tiles, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) { attn_prefill<16>(PF_PASS); }
extern "C" __global__ void __launch_bounds__(256, 1) attn_prefill_hd32(const float* q, int ldq, float* out, int heads, int kvHeads, float qscale, const int* tiles, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) { attn_prefill<32>(PF_PASS); }
extern "C" __global__ void __launch_bounds__(256, 1) attn_prefill_hd64(const float* q, int ldq, float* out, int heads, int kvHeads, float qscale, const int* tiles, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) { attn_prefill<64>(PF_PASS); }
extern "C" __global__ void __launch_bounds__(256, 1) attn_prefill_hd128(const float* q, int ldq, float* out, int heads, int kvHeads, float qscale, const int* tiles, const int* segStart, const int* past, const u64* kPtrs, const u64* vPtrs) { attn_prefill<128>(PF_PASS); }

#define DC_PASS q, ldq, kin, ldk, vin, ldv, out, heads, kvHeads, qscale, nsplit, items, append, past, kPtrs, vPtrs, part, ml
extern "C" __global__ void PDL __launch_bounds__(128) attn_decode_hd8(const float* q, int ldq, const float* kin, int ldk, const float* vin, int ldv, float* out, int heads, int kvHeads, float qscale, int nsplit, const int* items, int append, const int* past, const u64* kPtrs, const u64* vPtrs, float* part, float* ml) { attn_decode<8>(DC_PASS); }
extern "C" __global__ void PDL __launch_bounds__(128) attn_decode_hd16(const float* q, int ldq, const float* kin, int ldk, const float* vin, int ldv, float* out, int heads, int kvHeads, float qscale, int nsplit, const int* items, int append, const int* past, const u64* kPtrs, const u64* vPtrs, float* part, float* ml) { attn_decode<16>(DC_PASS); }
extern "C" __global__ void PDL __launch_bounds__(128) attn_decode_hd32(const float* q, int ldq, const float* kin, int ldk, const float* vin, int ldv, float* out, int heads, int kvHeads, float qscale, int nsplit, const int* items, int append, const int* past, const u64* kPtrs, const u64* vPtrs, float* part, float* ml) { attn_decode<32>(DC_PASS); }
extern "C" __global__ void PDL __launch_bounds__(128) attn_decode_hd64(const float* q, int ldq, const float* kin, int ldk, const float* vin, int ldv, float* out, int heads, int kvHeads, float qscale, int nsplit, const int* items, int append, const int* past, const u64* kPtrs, const u64* vPtrs, float* part, float* ml) { attn_decode<64>(DC_PASS); }
extern "C" __global__ void PDL __launch_bounds__(128) attn_decode_hd128(const float* q, int ldq, const float* kin, int ldk, const float* vin, int ldv, float* out, int heads, int kvHeads, float qscale, int nsplit, const int* items, int append, const int* past, const u64* kPtrs, const u64* vPtrs, float* part, float* ml) { attn_decode<128>(DC_PASS); }

// ---- fallback: SIMT, any head dim up to 128 -------------------------------------------------------------------------

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
