// The addon's own single-thread SGEMM, GotoBLAS/BLIS style (Goto & van de Geijn,
// "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 2008,
// https://doi.org/10.1145/1356052.1356053; Van Zee & van de Geijn, "BLIS", ACM TOMS
// 2015, https://doi.org/10.1145/2764454):
//
//   for jc in N step NC:             a KC×NC block of op(B), packed into NR-column panels (L3)
//     for pc in K step KC:
//       for ic in M step MC:         an MC×KC block of alpha·op(A), packed into MR-row panels (L2)
//         for jr in NC step NR:      one B panel, KC×NR, stays in L1 ...
//           for ir in MC step MR:    ... while A panels stream past it from L2
//             micro-kernel: the MR×NR tile of C += A panel · B panel, in registers
//
// The packing absorbs both transposes (every combination reaches the micro-kernel in
// the same layout) and alpha, and zero-pads partial panels, so the micro-kernel has no
// edge cases: a partial tile of C is computed whole into a small buffer and only its
// valid part is merged into C.
//
// This file is built WITHOUT -march=native (binding.gyp compiles it as its own static
// library): the AVX2 and AVX-512 micro-kernels are compiled for their instruction
// sets with target attributes and chosen at run time from CPU features, so one build
// runs on any x86-64 and computes the same results whatever machine built it.
//
// Deterministic: every path computes each element of C in the same order with the same
// roundings, so scalar, AVX2 and AVX-512 give bit-identical results (and so does any
// split of C over threads). Each KC block (KC is one constant for all paths) sums
// a·b over its k in order with fused multiply-adds from zero, then C = fma(beta, C, acc)
// for the first block and C + acc for the later ones. The micro-kernels' tiles only
// decide which elements are computed together, never how. The file is compiled with
// -ffp-contract=off, so the only fused operations are the ones written here.

#include "gemm.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AUTODIDACT_X86 1
#endif

namespace autodidact {
namespace {

// A micro-kernel computes the MR×NR tile acc = Σ_p a[p·MR + r] · b[p·NR + j] over k
// packed steps, then stores C[r·ldc + j] = acc + beta · C[r·ldc + j]; beta == 0 stores
// acc without reading C, which may hold NaN.
using MicroKernelFn = void (*)(int k, const float* a, const float* b, float* c, int64_t ldc, float beta);

// The K block of every path: part of the summation order, so one constant (see the top).
constexpr int kKC = 256;

// A micro-kernel's tile (mr, nr) and its cache blocking. kc: a KC×NR panel of B takes
// about half of a 32 KiB L1d, leaving room for the A panels streaming through. mc: the
// MC×KC block of A (~150 KiB) fits in L2 (≥ 256 KiB on any x86-64 with AVX2). nc: the
// KC×NC block of B (3-4 MiB) fits in a share of L3. mc and nc are multiples of mr, nr.
struct Blocking {
  int mr, nr, kc, mc, nc;
  MicroKernelFn run;
};

// Portable fallback (and arm64's kernel until NEON exists): plain loops over fused
// multiply-adds, 4×8 so that the accumulators fit in 8 vector registers. On arm64 the
// compiler vectorizes them to NEON's fmla; on an x86-64 build without FMA each
// __builtin_fmaf is a libm call (correctly rounded, so the results match the other
// paths, but slow: this path is for CPUs without AVX2 and for tests).
void micro_scalar(int k, const float* a, const float* b, float* c, int64_t ldc, float beta) {
  float acc[4][8] = {};
  for (int p = 0; p < k; p++, a += 4, b += 8)
    for (int r = 0; r < 4; r++)
      for (int j = 0; j < 8; j++) acc[r][j] = __builtin_fmaf(a[r], b[j], acc[r][j]);
  for (int r = 0; r < 4; r++) {
    float* row = c + r * ldc;
    if (beta == 0.0f)
      for (int j = 0; j < 8; j++) row[j] = acc[r][j];
    else
      for (int j = 0; j < 8; j++) row[j] = __builtin_fmaf(beta, row[j], acc[r][j]);
  }
}

#if defined(AUTODIDACT_X86)
// Requests a row of the C tile while the k loop runs: rows lie ldc apart, in lines the
// hardware prefetcher does not predict, and a miss at the final store would stall the
// kernel for hundreds of cycles.
inline void prefetch_row(const float* row, int n) {
  for (int j = 0; j < n; j += 16) _mm_prefetch(reinterpret_cast<const char*>(row + j), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(row + n - 1), _MM_HINT_T0);
}

// 6×16: 12 ymm accumulators, 2 for the B row, 1 broadcast of A; per step 12 FMAs
// against 2 loads and 6 broadcasts, enough independent FMAs to cover their latency on
// two FMA units.
__attribute__((target("avx2,fma"))) void micro_avx2(int k, const float* a, const float* b, float* c, int64_t ldc,
                                                    float beta) {
  __m256 acc[6][2];
  #pragma GCC unroll 6
  for (int r = 0; r < 6; r++) {
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    prefetch_row(c + r * ldc, 16);
  }
  for (int p = 0; p < k; p++, a += 6, b += 16) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    #pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
      __m256 ar = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
  __m256 vbeta = _mm256_set1_ps(beta);
  #pragma GCC unroll 6
  for (int r = 0; r < 6; r++) {
    float* row = c + r * ldc;
    if (beta == 0.0f) {
      _mm256_storeu_ps(row, acc[r][0]);
      _mm256_storeu_ps(row + 8, acc[r][1]);
    } else {  // fma(beta, c, acc) with beta == 1 is exactly c + acc
      _mm256_storeu_ps(row, _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(row), acc[r][0]));
      _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(vbeta, _mm256_loadu_ps(row + 8), acc[r][1]));
    }
  }
}

// 12×32: 24 of the 32 zmm registers accumulate; per step 24 FMAs against 2 loads and
// 12 broadcasts (which fold into the FMAs as embedded broadcasts).
__attribute__((target("avx512f"))) void micro_avx512(int k, const float* a, const float* b, float* c, int64_t ldc,
                                                     float beta) {
  __m512 acc[12][2];
  #pragma GCC unroll 12
  for (int r = 0; r < 12; r++) {
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    prefetch_row(c + r * ldc, 32);
  }
  for (int p = 0; p < k; p++, a += 12, b += 32) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    #pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
      __m512 ar = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
  __m512 vbeta = _mm512_set1_ps(beta);
  #pragma GCC unroll 12
  for (int r = 0; r < 12; r++) {
    float* row = c + r * ldc;
    if (beta == 0.0f) {
      _mm512_storeu_ps(row, acc[r][0]);
      _mm512_storeu_ps(row + 16, acc[r][1]);
    } else {
      _mm512_storeu_ps(row, _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(row), acc[r][0]));
      _mm512_storeu_ps(row + 16, _mm512_fmadd_ps(vbeta, _mm512_loadu_ps(row + 16), acc[r][1]));
    }
  }
}
#endif

const Blocking& blocking(MicroKernel kernel) {
  static const Blocking scalar{4, 8, kKC, 128, 2048, micro_scalar};
#if defined(AUTODIDACT_X86)
  static const Blocking avx2{6, 16, kKC, 168, 4080, micro_avx2};
  static const Blocking avx512{12, 32, kKC, 144, 3072, micro_avx512};
  if (kernel == MicroKernel::avx512) return avx512;
  if (kernel == MicroKernel::avx2) return avx2;
#endif
  return scalar;
}

constexpr int kMaxTile = 12 * 32;  // the largest mr·nr

// Packs rows [0, m) × columns [0, k) of alpha·op(A) into MR-row panels: panel i holds
// rows i·MR.., step p at [p·MR, p·MR + MR), rows past m are zero.
void pack_a(bool transA, const float* A, int lda, int m, int k, float alpha, int mr, float* out) {
  int64_t panel = (int64_t)mr * k;
  if (!transA) {  // op(A)[i][p] = A[i·lda + p]: a panel's rows are read side by side (measured faster than one by one)
    for (int i0 = 0; i0 < m; i0 += mr) {
      const float* src = A + (int64_t)i0 * lda;
      float* dst = out + i0 / mr * panel;
      int rows = std::min(mr, m - i0);
      for (int p = 0; p < k; p++)
        for (int r = 0; r < rows; r++) dst[p * mr + r] = alpha * src[(int64_t)r * lda + p];
    }
  } else {  // op(A)[i][p] = A[p·lda + i]: each stored row once, contiguously, into all panels
    for (int p = 0; p < k; p++) {
      const float* src = A + (int64_t)p * lda;
      float* dst = out + p * mr;
      for (int i0 = 0; i0 < m; i0 += mr, dst += panel)
        for (int r = 0; r < std::min(mr, m - i0); r++) dst[r] = alpha * src[i0 + r];
    }
  }
  int rows = m % mr;  // the last panel's zero padding
  if (rows == 0) return;
  float* last = out + (m / mr) * panel;
  for (int p = 0; p < k; p++)
    for (int r = rows; r < mr; r++) last[p * mr + r] = 0.0f;
}

// Packs rows [0, k) × columns [0, n) of op(B) into NR-column panels: panel j holds
// columns j·NR.., step p at [p·NR, p·NR + NR), columns past n are zero.
void pack_b(bool transB, const float* B, int ldb, int k, int n, int nr, float* out) {
  for (int j0 = 0; j0 < n; j0 += nr, out += (int64_t)nr * k) {
    int cols = std::min(nr, n - j0);
    if (!transB) {  // op(B)[p][j] = B[p·ldb + j]
      for (int p = 0; p < k; p++) {
        const float* src = B + (int64_t)p * ldb + j0;
        for (int j = 0; j < cols; j++) out[p * nr + j] = src[j];
      }
    } else {  // op(B)[p][j] = B[j·ldb + p]
      for (int j = 0; j < cols; j++) {
        const float* src = B + (int64_t)(j0 + j) * ldb;
        for (int p = 0; p < k; p++) out[p * nr + j] = src[p];
      }
    }
    for (int p = 0; p < k; p++)
      for (int j = cols; j < nr; j++) out[p * nr + j] = 0.0f;
  }
}

// C (rows × cols) = fma(beta, C, tile), as the micro-kernels store; tile has leading dimension nr.
void merge_tile(const float* tile, int nr, float* C, int64_t ldc, int rows, int cols, float beta) {
  for (int r = 0; r < rows; r++) {
    float* row = C + r * ldc;
    const float* t = tile + r * nr;
    if (beta == 0.0f)
      for (int j = 0; j < cols; j++) row[j] = t[j];
    else
      for (int j = 0; j < cols; j++) row[j] = __builtin_fmaf(beta, row[j], t[j]);
  }
}

// Per-thread packing buffers, 64-byte aligned for the micro-kernels' aligned loads;
// they grow to the largest block a thread has packed and are then reused.
float* scratch(std::vector<float>& storage, size_t floats) {
  if (storage.size() < floats + 16) storage.resize(floats + 16);
  uintptr_t address = reinterpret_cast<uintptr_t>(storage.data());
  return reinterpret_cast<float*>((address + 63) & ~uintptr_t(63));
}

}  // namespace

const char* micro_kernel_name(MicroKernel kernel) {
  switch (kernel) {
    case MicroKernel::avx512: return "avx512";
    case MicroKernel::avx2: return "avx2";
    default: return "scalar";
  }
}

bool micro_kernel_supported(MicroKernel kernel) {
#if defined(AUTODIDACT_X86)
  __builtin_cpu_init();
  if (kernel == MicroKernel::avx512) return __builtin_cpu_supports("avx512f");
  if (kernel == MicroKernel::avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return kernel == MicroKernel::scalar;
}

// AVX-512 is not preferred: on AMD Zen 4 (the machine it was measured on) a 512-bit FMA
// occupies both 256-bit units, and the AVX2 kernel was as fast or faster (1024³: 83-86
// against 79-84 GFLOPS). Cores with two 512-bit FMA units (Intel server parts) should
// gain from it; that is unmeasured, so it runs only when asked for.
MicroKernel best_micro_kernel() {
  return micro_kernel_supported(MicroKernel::avx2) ? MicroKernel::avx2 : MicroKernel::scalar;
}

void sgemm(MicroKernel kernel, bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {  // C = beta·C; the product contributes nothing
    for (int i = 0; i < M; i++) {
      float* row = C + (int64_t)i * ldc;
      if (beta == 0.0f) std::fill(row, row + N, 0.0f);
      else if (beta != 1.0f) for (int j = 0; j < N; j++) row[j] *= beta;
    }
    return;
  }
  const Blocking& b = blocking(kernel);
  thread_local std::vector<float> a_storage, b_storage;
  float* a_packed = scratch(a_storage, (size_t)b.mc * b.kc);
  float* b_packed = scratch(b_storage, (size_t)std::min(b.nc, (N + b.nr - 1) / b.nr * b.nr) * b.kc);
  alignas(64) float tile[kMaxTile];
  for (int jc = 0; jc < N; jc += b.nc) {
    int nc = std::min(b.nc, N - jc);
    for (int pc = 0; pc < K; pc += b.kc) {
      int kc = std::min(b.kc, K - pc);
      pack_b(transB, transB ? B + (int64_t)jc * ldb + pc : B + (int64_t)pc * ldb + jc, ldb, kc, nc, b.nr, b_packed);
      float beta_block = pc == 0 ? beta : 1.0f;  // later K blocks accumulate onto the first
      for (int ic = 0; ic < M; ic += b.mc) {
        int mc = std::min(b.mc, M - ic);
        pack_a(transA, transA ? A + (int64_t)pc * lda + ic : A + (int64_t)ic * lda + pc, lda, mc, kc, alpha, b.mr,
               a_packed);
        for (int jr = 0; jr < nc; jr += b.nr) {
          int cols = std::min(b.nr, nc - jr);
          for (int ir = 0; ir < mc; ir += b.mr) {
            int rows = std::min(b.mr, mc - ir);
            float* c = C + (int64_t)(ic + ir) * ldc + jc + jr;
            const float* a_panel = a_packed + (int64_t)ir * kc;
            const float* b_panel = b_packed + (int64_t)jr * kc;
            if (rows == b.mr && cols == b.nr) {
              b.run(kc, a_panel, b_panel, c, ldc, beta_block);
            } else {
              b.run(kc, a_panel, b_panel, tile, b.nr, 0.0f);
              merge_tile(tile, b.nr, c, ldc, rows, cols, beta_block);
            }
          }
        }
      }
    }
  }
}

}  // namespace autodidact
