// The addon's own single-thread SGEMM (src/native/gemm.cc): packed panels, cache
// blocking and register-blocked micro-kernels chosen at run time by CPU features.
#pragma once

#include <cstdint>

namespace autodidact {

// The micro-kernels; every one is compiled into every build, and runs only where
// the CPU supports it.
enum class MicroKernel { scalar, avx2, avx512 };

const char* micro_kernel_name(MicroKernel kernel);

// Whether this CPU (and its OS, which must save the wider registers) can run `kernel`.
bool micro_kernel_supported(MicroKernel kernel);

// The micro-kernel to use by default: the fastest measured that this CPU supports.
MicroKernel best_micro_kernel();

// Row-major C = alpha * op(A) @ op(B) + beta * C with op(A) (M,K), op(B) (K,N); BLAS
// semantics: beta == 0 never reads C, and alpha == 0 or K == 0 never reads A or B.
void sgemm(MicroKernel kernel, bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace autodidact
