// Native kernels of the embedded engine (llm.c style: paired forward/backward
// functions over flat float buffers). src/engine/kernels-ts.ts is the
// TypeScript reference of every function here, with the same signatures and
// the same semantics; test/engine/kernels.test.ts checks that they agree.
//
// Shapes use B (batch), T (time), C (channels), H (heads), D (head size),
// F (MLP hidden), V (vocab), N (rows = B*T).
//
// Threads: one process-wide pool of AUTODIDACT_THREADS threads (the caller is
// thread 0). BLAS runs single-threaded inside it, so the cores are never
// oversubscribed: every parallel region, GEMMs included, is split by us.

#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gemm.h"

#if defined(AUTODIDACT_OPENBLAS)
#include <cblas.h>
#define AUTODIDACT_BLAS_NAME "openblas"
#elif defined(AUTODIDACT_ACCELERATE)
#include <Accelerate/Accelerate.h>
#define AUTODIDACT_BLAS_NAME "accelerate"
#else
#define AUTODIDACT_BLAS_NAME "none"
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

// ---------------------------------------------------------------------------
// Floating-point environment and fast math

// Denormals are flushed to zero inside kernels (as ML libraries do): softmax
// tails and tiny gradients otherwise hit the slow path of the FPU, 10-100x
// slower. The caller's mode (V8's, for JavaScript) is restored on return.
#if defined(__SSE__)
struct FlushDenormals {
  unsigned int saved;
  FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }
  ~FlushDenormals() { _mm_setcsr(saved); }
};
#else
struct FlushDenormals {};
#endif

// exp(x) for float, written so that loops over it vectorize: range reduction
// x = k·ln2 + r, then the Cephes polynomial for exp(r) (≈ 2 ulp on [-87, 88]).
static inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float k = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - k * 0.693359375f + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// Fused multiply-add where the CPU has one (every x86-64 with AVX2, every arm64), plain
// multiply and add elsewhere. This file is compiled with -ffp-contract=off, so these are
// the only fused operations: the compiler never decides, per build machine or vector
// width, which products to fuse, and the kernels compute the same bits on any machine
// with FMA whatever -march=native chose (docs/performance.md, "Determinism").
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
static inline float fmadd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
#else
static inline float fmadd(float a, float b, float c) { return a * b + c; }
#endif

// Dot product with 8 independent partial sums, so that it vectorizes without
// -ffast-math (the order of additions differs from a serial loop, which the
// tests' tolerances allow; it is fixed, whatever the vector width).
static inline float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] = fmadd(a[i + j], b[i + j], acc[j]);
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; i++) sum = fmadd(a[i], b[i], sum);
  return sum;
}

// Maximum of n ≥ 1 values, with 8 independent lanes so that it vectorizes.
static inline float row_max(const float* a, int n) {
  float lanes[8];
  for (int j = 0; j < 8; j++) lanes[j] = a[0];
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) lanes[j] = a[i + j] > lanes[j] ? a[i + j] : lanes[j];
  float m = lanes[0];
  for (int j = 1; j < 8; j++) m = lanes[j] > m ? lanes[j] : m;
  for (; i < n; i++) m = a[i] > m ? a[i] : m;
  return m;
}

// ---------------------------------------------------------------------------
// Thread pool

class Pool {
 public:
  static const int kMaxThreads = 256;

  // Sets the number of threads (the caller counts as one); a no-op when unchanged.
  // Returns false when the system refuses to start threads (the pool then has one).
  bool resize(int threads) {
    threads = std::max(1, std::min(threads, kMaxThreads));
    std::lock_guard<std::mutex> use(use_mutex_);
    if (threads == threads_.load()) return true;
    shutdown();
    stop_.store(false);
    // Workers start from the current generation, so no later dispatch can be missed.
    uint64_t start = generation_.load(std::memory_order_acquire);
    try {
      for (int i = 1; i < threads; i++) workers_.emplace_back([this, i, start] { loop(i, start); });
    } catch (const std::system_error&) {
      shutdown();
      threads_.store(1);
      return false;
    }
    threads_.store(threads);
    return true;
  }
  int size() const { return threads_.load(); }

  // Splits [0, n) into at most one contiguous chunk per thread and runs fn(chunk, begin, end) on the
  // pool; prepare(chunks) runs first (to size per-chunk scratch). The thread count is read under the
  // pool's lock, so a concurrent resize can neither drop chunks nor outgrow the scratch.
  void parallel_chunks(int64_t n, int64_t min_per_thread, const std::function<void(int64_t)>& prepare,
                       const std::function<void(int64_t, int64_t, int64_t)>& fn) {
    std::lock_guard<std::mutex> use(use_mutex_);
    int threads = threads_.load();
    int64_t chunks = std::min<int64_t>(threads, std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread)));
    if (prepare) prepare(chunks);
    if (chunks <= 1) {
      fn(0, 0, n);
      return;
    }
    std::function<void(int)> task = [&](int t) {
      if (t >= chunks) return;
      int64_t begin = n * t / chunks, end = n * (t + 1) / chunks;
      if (begin < end) fn(t, begin, end);
    };
    task_ = &task;
    remaining_.store(threads - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    task(0);
    while (remaining_.load(std::memory_order_acquire) != 0) cpu_relax();
    task_ = nullptr;
  }

  void parallel_for(int64_t n, int64_t min_per_thread, const std::function<void(int64_t, int64_t)>& fn) {
    parallel_chunks(n, min_per_thread, nullptr, [&](int64_t, int64_t begin, int64_t end) { fn(begin, end); });
  }

  ~Pool() { shutdown(); }

 private:
  void shutdown() {
    if (workers_.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void loop(int index, uint64_t seen) {
    FlushDenormals flush;
    for (;;) {
      // Spin briefly (kernels come in quick succession), then sleep.
      uint64_t now = seen;
      for (int spin = 0; spin < 20000; spin++) {
        now = generation_.load(std::memory_order_acquire);
        if (now != seen) break;
        cpu_relax();
      }
      if (now == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        now = generation_.load(std::memory_order_acquire);
      }
      seen = now;
      if (stop_.load()) return;
      (*task_)(index);
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::atomic<int> threads_{1};
  std::vector<std::thread> workers_;
  const std::function<void(int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> remaining_{0};
  std::mutex mutex_;
  std::mutex use_mutex_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
};

static Pool pool;

// ---------------------------------------------------------------------------
// GEMM, row-major: C = alpha * op(A) @ op(B) + beta * C, op(A) (M,K), op(B) (K,N).

// Which single-thread GEMM runs: the BLAS the addon was built with, or our own
// (src/native/gemm.cc) with one of its micro-kernels.
struct GemmPath {
  bool blas;
  autodidact::MicroKernel kernel;  // when !blas
};

static bool built_with_blas() { return std::string(AUTODIDACT_BLAS_NAME) != "none"; }

static std::string gemm_path_name(const GemmPath& path) {
  return path.blas ? AUTODIDACT_BLAS_NAME : std::string("own-") + autodidact::micro_kernel_name(path.kernel);
}

// The paths that this build on this CPU can run: our micro-kernels, then the BLAS.
static std::vector<GemmPath> runnable_gemm_paths() {
  std::vector<GemmPath> paths;
  for (autodidact::MicroKernel kernel : {autodidact::MicroKernel::avx512, autodidact::MicroKernel::avx2, autodidact::MicroKernel::scalar})
    if (autodidact::micro_kernel_supported(kernel)) paths.push_back({false, kernel});
  if (built_with_blas()) paths.push_back({true, autodidact::MicroKernel::scalar});
  return paths;
}

// Parses an AUTODIDACT_GEMM value: auto (the default), own (our default micro-kernel),
// blas, or one micro-kernel by name (scalar, avx2, avx512). Returns an error message,
// empty when `name` is valid and runnable here.
static std::string parse_gemm_path(const std::string& name, GemmPath* path) {
  // auto: ours, whether or not the addon has a BLAS. Ours is deterministic (the same bits on every
  // path, thread count and machine with FMA; gemm.cc), a BLAS is not: OpenBLAS picks its kernels
  // per CPU (OPENBLAS_CORETYPE), so the same seed trained different models on two machines of one
  // kind. The price, measured interleaved (bench/engine.ts, single thread, AMD EPYC Zen 4, OpenBLAS
  // 0.3.21): ours/OpenBLAS = 0.97 on 1024³, 0.92-1.01 on the model's forward products, 0.88-0.91 on
  // the input gradients and 0.77-0.79 on the weight gradients. AUTODIDACT_GEMM=blas opts in.
  if (name == "own" || name == "auto") return *path = {false, autodidact::best_micro_kernel()}, "";
  if (name == "blas") {
    if (!built_with_blas()) return "is blas, but the addon was built without a BLAS";
    return *path = {true, autodidact::MicroKernel::scalar}, "";
  }
  for (autodidact::MicroKernel kernel : {autodidact::MicroKernel::avx512, autodidact::MicroKernel::avx2, autodidact::MicroKernel::scalar}) {
    if (name != autodidact::micro_kernel_name(kernel)) continue;
    if (!autodidact::micro_kernel_supported(kernel)) return "is " + name + ", which this CPU does not support";
    return *path = {false, kernel}, "";
  }
  return "must be auto, own, blas, scalar, avx2 or avx512, got \"" + name + "\"";
}

static GemmPath active_gemm{false, autodidact::MicroKernel::scalar};  // set from AUTODIDACT_GEMM at load

// The path defaults to the active one (the argument is evaluated at each call); tests and the
// benchmark name another.
static void gemm_serial(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                        const float* B, int ldb, float beta, float* C, int ldc, const GemmPath& path = active_gemm) {
#if defined(AUTODIDACT_OPENBLAS) || defined(AUTODIDACT_ACCELERATE)
  if (path.blas) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
    return;
  }
#endif
  autodidact::sgemm(path.kernel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Splits the larger of M and N over the pool; each part is a serial GEMM.
static void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc, const GemmPath& path = active_gemm) {
  int threads = pool.size();
  if (threads == 1 || (int64_t)M * N * K < (int64_t)64 * 64 * 64) {  // small: dispatch costs more than it saves
    gemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, path);
    return;
  }
  if (M >= N) {
    pool.parallel_for(M, 16, [&](int64_t i0, int64_t i1) {
      const float* a = ta ? A + i0 : A + i0 * lda;
      gemm_serial(ta, tb, (int)(i1 - i0), N, K, alpha, a, lda, B, ldb, beta, C + i0 * ldc, ldc, path);
    });
  } else {
    pool.parallel_for(N, 16, [&](int64_t j0, int64_t j1) {
      const float* b = tb ? B + j0 * ldb : B + j0;
      gemm_serial(ta, tb, M, (int)(j1 - j0), K, alpha, A, lda, b, ldb, beta, C + j0, ldc, path);
    });
  }
}

// ---------------------------------------------------------------------------
// Checked arguments: every kernel validates types, sizes and index ranges before it
// touches memory, so a wrong call from JavaScript raises an exception instead of
// reading or writing out of bounds.

class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info) {}
  bool ok() const { return ok_; }
  Napi::Value done() const { return info_.Env().Undefined(); }

  int integer(int i, const char* name, int min = 0) {
    if (!ok_) return 0;
    if (!info_[i].IsNumber()) return fail(name, "must be a number"), 0;
    double v = info_[i].As<Napi::Number>().DoubleValue();
    if (!(v == std::floor(v)) || v < min || v > 2147483647.0) return fail(name, "must be an integer >= " + std::to_string(min)), 0;
    return (int)v;
  }
  float number(int i, const char* name) {
    if (!ok_) return 0.0f;
    if (!info_[i].IsNumber()) return fail(name, "must be a number"), 0.0f;
    return info_[i].As<Napi::Number>().FloatValue();
  }
  bool flag(int i) const { return info_[i].ToBoolean().Value(); }

  // A Float32Array of at least `need` elements (null/undefined allowed when `nullable`).
  float* f32(int i, int64_t need, const char* name, bool nullable = false) {
    if (!ok_) return nullptr;
    if (nullable && (info_[i].IsNull() || info_[i].IsUndefined())) return nullptr;
    if (!info_[i].IsTypedArray() || info_[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) return fail(name, "must be a Float32Array"), nullptr;
    Napi::Float32Array array = info_[i].As<Napi::Float32Array>();
    if ((int64_t)array.ElementLength() < need) return fail(name, "has " + std::to_string(array.ElementLength()) + " elements, needs " + std::to_string(need)), nullptr;
    return array.Data();
  }
  int64_t length(int i) const { return (int64_t)info_[i].As<Napi::TypedArray>().ElementLength(); }

  // An Int32Array of at least `n` elements, each in [0, bound).
  int32_t* ids(int i, int64_t n, int64_t bound, const char* name) {
    if (!ok_) return nullptr;
    if (!info_[i].IsTypedArray() || info_[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) return fail(name, "must be an Int32Array"), nullptr;
    Napi::Int32Array array = info_[i].As<Napi::Int32Array>();
    if ((int64_t)array.ElementLength() < n) return fail(name, "has " + std::to_string(array.ElementLength()) + " elements, needs " + std::to_string(n)), nullptr;
    int32_t* data = array.Data();
    for (int64_t k = 0; k < n; k++)
      if (data[k] < 0 || data[k] >= bound) return fail(name, "holds " + std::to_string(data[k]) + " at " + std::to_string(k) + ", outside [0, " + std::to_string(bound) + ")"), nullptr;
    return data;
  }

  void require(bool condition, const char* name, const std::string& message) {
    if (ok_ && !condition) fail(name, message);
  }

 private:
  void fail(const char* name, const std::string& message) {
    if (!ok_) return;
    ok_ = false;
    Napi::RangeError::New(info_.Env(), std::string("autodidact kernel argument `") + name + "` " + message).ThrowAsJavaScriptException();
  }
  const Napi::CallbackInfo& info_;
  bool ok_ = true;
};

// Elements a row-major (rows, cols) matrix with leading dimension ld spans.
static int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

// ---------------------------------------------------------------------------
// Kernels

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): exposed for tests and the GEMM benchmark.
// gemmUsing(…the same…, path) runs it on a named path (an AUTODIDACT_GEMM value), so that tests and the
// benchmark compare paths in one process.
static Napi::Value Gemm(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  GemmPath path = active_gemm;
  bool named = info.Length() > 13;
  if (named) {
    std::string error = info[13].IsString() ? parse_gemm_path(info[13].As<Napi::String>().Utf8Value(), &path) : "must be a string";
    a.require(error.empty(), "path", error);
  }
  bool ta = a.flag(0), tb = a.flag(1);
  int M = a.integer(2, "M"), N = a.integer(3, "N"), K = a.integer(4, "K");
  float alpha = a.number(5, "alpha"), beta = a.number(10, "beta");
  int lda = a.integer(7, "lda", 1), ldb = a.integer(9, "ldb", 1), ldc = a.integer(12, "ldc", 1);
  a.require(lda >= (ta ? M : K) && ldb >= (tb ? K : N) && ldc >= N, "ld", "leading dimensions are smaller than the rows they hold");
  float* A = a.f32(6, ta ? span(K, M, lda) : span(M, K, lda), "A");
  float* B = a.f32(8, tb ? span(N, K, ldb) : span(K, N, ldb), "B");
  float* C = a.f32(11, span(M, N, ldc), "C");
  if (!a.ok()) return a.done();
  gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, path);
  return a.done();
}

// matmulForward(out (N,OC), inp (N,C), weight (OC,C), N, C, OC, accumulate): out (+)= inp @ weight^T
static Napi::Value MatmulForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(3, "N"), C = a.integer(4, "C", 1), OC = a.integer(5, "OC", 1);
  float *out = a.f32(0, (int64_t)N * OC, "out"), *inp = a.f32(1, (int64_t)N * C, "inp"), *weight = a.f32(2, (int64_t)OC * C, "weight");
  if (!a.ok()) return a.done();
  gemm(false, true, N, OC, C, 1.0f, inp, C, weight, C, a.flag(6) ? 1.0f : 0.0f, out, OC);
  return a.done();
}

// matmulBackward(dinp (N,C) | null, dweight (OC,C), dout (N,OC), inp (N,C), weight (OC,C), N, C, OC, accumulateInput)
// dinp (+)= dout @ weight; dweight += dout^T @ inp
static Napi::Value MatmulBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(5, "N"), C = a.integer(6, "C", 1), OC = a.integer(7, "OC", 1);
  float *dinp = a.f32(0, (int64_t)N * C, "dinp", true), *dweight = a.f32(1, (int64_t)OC * C, "dweight");
  float *dout = a.f32(2, (int64_t)N * OC, "dout"), *inp = a.f32(3, (int64_t)N * C, "inp"), *weight = a.f32(4, (int64_t)OC * C, "weight");
  if (!a.ok()) return a.done();
  float beta = a.flag(8) ? 1.0f : 0.0f;
  if (!dinp || pool.size() < 2 || (int64_t)N * C * OC < (int64_t)128 * 128 * 128) {
    if (dinp) gemm(false, false, N, C, OC, 1.0f, dout, OC, weight, C, beta, dinp, C);
    gemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    return a.done();
  }
  // The two products are independent and equally large: half the threads split dinp by rows while
  // the other half split dweight by rows, one parallel region instead of two.
  int64_t groups = 0;
  pool.parallel_chunks(
      pool.size(), 1, [&](int64_t chunks) { groups = chunks; },
      [&](int64_t t, int64_t, int64_t) {
        int64_t first = groups / 2;  // threads [0, first) do dinp, [first, groups) do dweight
        if (first == 0) {  // a single thread (the pool shrank meanwhile): both products, serially
          gemm_serial(false, false, N, C, OC, 1.0f, dout, OC, weight, C, beta, dinp, C);
          gemm_serial(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
        } else if (t < first) {
          int64_t r0 = N * t / first, r1 = N * (t + 1) / first;
          if (r1 > r0) gemm_serial(false, false, (int)(r1 - r0), C, OC, 1.0f, dout + r0 * OC, OC, weight, C, beta, dinp + r0 * C, C);
        } else {
          int64_t parts = groups - first, k = t - first;
          int64_t o0 = OC * k / parts, o1 = OC * (k + 1) / parts;
          if (o1 > o0) gemm_serial(true, false, (int)(o1 - o0), C, N, 1.0f, dout + o0, OC, inp, C, 1.0f, dweight + o0 * C, C);
        }
      });
  return a.done();
}

// rmsnormForward(out (N,C), rstd (N), inp (N,C), weight (C), N, C, eps)
static Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(4, "N"), C = a.integer(5, "C", 1);
  float eps = a.number(6, "eps");
  float *out = a.f32(0, (int64_t)N * C, "out"), *rstd = a.f32(1, N, "rstd"), *inp = a.f32(2, (int64_t)N * C, "inp"), *weight = a.f32(3, C, "weight");
  if (!a.ok()) return a.done();
  pool.parallel_for(N, 64, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float* x = inp + n * C;
      float r = 1.0f / std::sqrt(dot(x, x, C) / C + eps);
      rstd[n] = r;
      float* y = out + n * C;
      for (int c = 0; c < C; c++) y[c] = weight[c] * (x[c] * r);
    }
  });
  return info.Env().Undefined();
}

// rmsnormBackward(dinp (N,C), dweight (C), dout (N,C), inp (N,C), weight (C), rstd (N), N, C): both accumulate
static Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(6, "N"), C = a.integer(7, "C", 1);
  float *dinp = a.f32(0, (int64_t)N * C, "dinp"), *dweight = a.f32(1, C, "dweight"), *dout = a.f32(2, (int64_t)N * C, "dout");
  float *inp = a.f32(3, (int64_t)N * C, "inp"), *weight = a.f32(4, C, "weight"), *rstd = a.f32(5, N, "rstd");
  if (!a.ok()) return a.done();
  // dweight sums over rows in blocks of a fixed size, whatever the thread count, and the
  // blocks' sums are added in order: the same bits with 1 thread or 16.
  const int64_t kRows = 64, blocks = (N + kRows - 1) / kRows;
  std::vector<float> partial((size_t)blocks * C, 0.0f);  // (blocks, C)
  pool.parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t block = b0; block < b1; block++) {
        float* dw = partial.data() + (size_t)block * C;
        for (int64_t n = block * kRows; n < std::min<int64_t>(N, (block + 1) * kRows); n++) {
          const float *x = inp + n * C, *dy = dout + n * C;
          float r = rstd[n], dotp = 0.0f;
          for (int c = 0; c < C; c++) {
            dotp += weight[c] * dy[c] * x[c];
            dw[c] += dy[c] * x[c] * r;
          }
          float k = dotp * r * r * r / C;
          float* dx = dinp + n * C;
          for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - k * x[c];
        }
    }
  });
  for (int64_t block = 0; block < blocks; block++)
    for (int c = 0; c < C; c++) dweight[c] += partial[(size_t)block * C + c];
  return a.done();
}

// rope(qkv (N,3C), positions (N) int32, cos (maxT,D/2), sin (maxT,D/2), N, C, H, inverse)
// Rotates q and k in place, rotate-half convention of transformers' Llama: pairs (i, i + D/2).
// inverse rotates by -angle: the backward pass of a rotation.
static Napi::Value Rope(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(4, "N"), C = a.integer(5, "C", 1), H = a.integer(6, "H", 1);
  a.require(C % H == 0 && (C / H) % 2 == 0, "H", "must divide C into heads of even size");
  int D = H > 0 ? C / H : 0, half = D / 2;
  float *qkv = a.f32(0, (int64_t)N * 3 * C, "qkv"), *cosT = a.f32(2, half, "cos"), *sinT = a.f32(3, half, "sin");
  int64_t tableRows = a.ok() ? std::min(a.length(2), a.length(3)) / std::max(1, half) : 0;
  int32_t* positions = a.ids(1, N, tableRows, "positions");
  float sign = a.flag(7) ? -1.0f : 1.0f;
  if (!a.ok()) return a.done();
  pool.parallel_for(N, 64, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float* cs = cosT + (int64_t)positions[n] * half;
      const float* sn = sinT + (int64_t)positions[n] * half;
      for (int part = 0; part < 2; part++) {
        for (int h = 0; h < H; h++) {
          float* x = qkv + n * 3 * C + part * C + h * D;
          for (int i = 0; i < half; i++) {
            float a = x[i], b = x[i + half], c = cs[i], s = sign * sn[i];
            x[i] = a * c - b * s;
            x[i + half] = b * c + a * s;
          }
        }
      }
    }
  });
  return info.Env().Undefined();
}

// Attention runs in blocks of query rows: rows [r0, r1) only see keys [0, r1), so
// the products skip most of the masked upper triangle (about 40% of the work at T = 128).
static const int kAttentionBlock = 32;

// attentionForward(out (B,T,C), att (B,H,T,T), qkv (B,T,3C) roped, B, T, C, H)
// att holds the causal softmax probabilities (zeros above the diagonal) for the backward pass.
static Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int B = a.integer(3, "B"), T = a.integer(4, "T"), C = a.integer(5, "C", 1), H = a.integer(6, "H", 1);
  a.require(C % H == 0, "H", "must divide C");
  float *out = a.f32(0, (int64_t)B * T * C, "out"), *att = a.f32(1, (int64_t)B * H * T * T, "att"), *qkv = a.f32(2, (int64_t)B * T * 3 * C, "qkv");
  if (!a.ok()) return a.done();
  int D = C / H;
  float scale = 1.0f / std::sqrt((float)D);
  pool.parallel_for((int64_t)B * H, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t bh = i0; bh < i1; bh++) {
      int64_t b = bh / H, h = bh % H;
      const float* q = qkv + b * T * 3 * C + h * D;  // (T,D) stride 3C
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* p = att + bh * T * T;  // (T,T)
      for (int r0 = 0; r0 < T; r0 += kAttentionBlock) {
        int r1 = std::min(T, r0 + kAttentionBlock), rows = r1 - r0;
        float* pb = p + (int64_t)r0 * T;  // (rows, T), columns [0, r1) used
        gemm_serial(false, true, rows, r1, D, scale, q + (int64_t)r0 * 3 * C, 3 * C, k, 3 * C, 0.0f, pb, T);
        for (int t = r0; t < r1; t++) {
          float* row = p + (int64_t)t * T;
          float maxv = row_max(row, t + 1);
          float sum = 0.0f;
          for (int u = 0; u <= t; u++) {
            row[u] = fast_exp(row[u] - maxv);
            sum += row[u];
          }
          float inv = 1.0f / sum;
          for (int u = 0; u <= t; u++) row[u] *= inv;
          for (int u = t + 1; u < T; u++) row[u] = 0.0f;
        }
        gemm_serial(false, false, rows, D, r1, 1.0f, pb, T, v, 3 * C, 0.0f, out + (b * T + r0) * C + h * D, C);
      }
    }
  });
  return info.Env().Undefined();
}

// attentionBackward(dqkv (B,T,3C) overwritten, dout (B,T,C), qkv (B,T,3C), att (B,H,T,T), B, T, C, H)
static Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int B = a.integer(4, "B"), T = a.integer(5, "T"), C = a.integer(6, "C", 1), H = a.integer(7, "H", 1);
  a.require(C % H == 0, "H", "must divide C");
  float *dqkv = a.f32(0, (int64_t)B * T * 3 * C, "dqkv"), *dout = a.f32(1, (int64_t)B * T * C, "dout");
  float *qkv = a.f32(2, (int64_t)B * T * 3 * C, "qkv"), *att = a.f32(3, (int64_t)B * H * T * T, "att");
  if (!a.ok()) return a.done();
  int D = C / H;
  float scale = 1.0f / std::sqrt((float)D);
  pool.parallel_for((int64_t)B * H, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> dp((size_t)kAttentionBlock * T);  // (block, T) scratch
    for (int64_t bh = i0; bh < i1; bh++) {
      int64_t b = bh / H, h = bh % H;
      const float* q = qkv + b * T * 3 * C + h * D;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* dq = dqkv + b * T * 3 * C + h * D;
      float* dk = dq + C;
      float* dv = dq + 2 * C;
      const float* p = att + bh * T * T;
      const float* dy = dout + b * T * C + h * D;  // (T,D) stride C
      // dK and dV accumulate over row blocks. The last block sees every key, so going from the last
      // block to the first, its products initialize dK and dV (beta = 0) and the others add to them.
      int lastBlock = (T - 1) / kAttentionBlock * kAttentionBlock;
      for (int r0 = lastBlock; r0 >= 0; r0 -= kAttentionBlock) {
        int r1 = std::min(T, r0 + kAttentionBlock), rows = r1 - r0;
        float beta = r0 == lastBlock ? 0.0f : 1.0f;
        const float* pb = p + (int64_t)r0 * T;
        const float* dyb = dy + (int64_t)r0 * C;
        gemm_serial(false, true, rows, r1, D, 1.0f, dyb, C, v, 3 * C, 0.0f, dp.data(), T);  // dP = dY V^T
        gemm_serial(true, false, r1, D, rows, 1.0f, pb, T, dyb, C, beta, dv, 3 * C);        // dV += P^T dY
        for (int t = r0; t < r1; t++) {  // dS = P * (dP - rowsum(P * dP)) * scale
          const float* pr = p + (int64_t)t * T;
          float* dr = dp.data() + (int64_t)(t - r0) * T;
          float dotp = dot(pr, dr, t + 1);
          for (int u = 0; u <= t; u++) dr[u] = pr[u] * (dr[u] - dotp) * scale;
          for (int u = t + 1; u < r1; u++) dr[u] = 0.0f;
        }
        gemm_serial(false, false, rows, D, r1, 1.0f, dp.data(), T, k, 3 * C, 0.0f, dq + (int64_t)r0 * 3 * C, 3 * C);  // dQ = dS K
        gemm_serial(true, false, r1, D, rows, 1.0f, dp.data(), T, q + (int64_t)r0 * 3 * C, 3 * C, beta, dk, 3 * C);  // dK += dS^T Q
      }
    }
  });
  return info.Env().Undefined();
}

// attentionCached(out (N,C), qkv (N,3C) roped, kCache, vCache (slots,H,maxT,D), slots (N), positions (N), N, C, H, maxT)
// The cache is head-major, so one (row, head) reads a contiguous (L, D) block of keys and of values.
// Sampling: row n is the token at positions[n] of the sequence held in cache slot slots[n]. Its k and v are
// written to the cache first, then it attends causally to positions 0..positions[n] of its slot.
static Napi::Value AttentionCached(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(6, "N"), C = a.integer(7, "C", 1), H = a.integer(8, "H", 1), maxT = a.integer(9, "maxT", 1);
  a.require(C % H == 0, "H", "must divide C");
  float *out = a.f32(0, (int64_t)N * C, "out"), *qkv = a.f32(1, (int64_t)N * 3 * C, "qkv");
  float *kc = a.f32(2, (int64_t)maxT * C, "kCache"), *vc = a.f32(3, (int64_t)maxT * C, "vCache");
  int64_t slotCount = a.ok() ? std::min(a.length(2), a.length(3)) / ((int64_t)maxT * C) : 0;
  int32_t *slots = a.ids(4, N, slotCount, "slots"), *positions = a.ids(5, N, maxT, "positions");
  if (!a.ok()) return a.done();
  int D = C / H;
  float scale = 1.0f / std::sqrt((float)D);
  for (int n = 0; n < N; n++) {
    for (int h = 0; h < H; h++) {
      int64_t at = (((int64_t)slots[n] * H + h) * maxT + positions[n]) * D;
      std::memcpy(kc + at, qkv + (int64_t)n * 3 * C + C + h * D, sizeof(float) * D);
      std::memcpy(vc + at, qkv + (int64_t)n * 3 * C + 2 * C + h * D, sizeof(float) * D);
    }
  }
  pool.parallel_for((int64_t)N * H, 4, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores(maxT);
    for (int64_t nh = i0; nh < i1; nh++) {
      int64_t n = nh / H, h = nh % H;
      int L = positions[n] + 1;
      const float* q = qkv + n * 3 * C + h * D;
      const float* k = kc + ((int64_t)slots[n] * H + h) * maxT * D;  // (L, D)
      const float* v = vc + ((int64_t)slots[n] * H + h) * maxT * D;  // (L, D)
      float maxv = -INFINITY;
      for (int u = 0; u < L; u++) {
        float s = dot(q, k + (int64_t)u * D, D) * scale;
        scores[u] = s;
        maxv = std::max(maxv, s);
      }
      float sum = 0.0f;
      for (int u = 0; u < L; u++) {
        scores[u] = fast_exp(scores[u] - maxv);
        sum += scores[u];
      }
      float* y = out + n * C + h * D;
      std::fill(y, y + D, 0.0f);
      for (int u = 0; u < L; u++) {
        float w = scores[u] / sum;
        const float* vu = v + (int64_t)u * D;
        for (int d = 0; d < D; d++) y[d] += w * vu[d];
      }
    }
  });
  return info.Env().Undefined();
}

static void swiglu_rows(float* out, const float* gu, int64_t n0, int64_t n1, int F) {
  for (int64_t n = n0; n < n1; n++) {
    const float *g = gu + n * 2 * F, *u = g + F;
    float* y = out + n * F;
    for (int f = 0; f < F; f++) y[f] = g[f] / (1.0f + fast_exp(-g[f])) * u[f];
  }
}

// swigluForward(out (N,F), gateUp (N,2F), N, F): out = silu(gate) * up
static Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(2, "N"), F = a.integer(3, "F", 1);
  float *out = a.f32(0, (int64_t)N * F, "out"), *gu = a.f32(1, (int64_t)N * 2 * F, "gateUp");
  if (!a.ok()) return a.done();
  pool.parallel_for(N, 32, [&](int64_t n0, int64_t n1) { swiglu_rows(out, gu, n0, n1, F); });
  return info.Env().Undefined();
}

// swigluBackward(dGateUp (N,2F) overwritten, dout (N,F), gateUp (N,2F), N, F)
static Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(3, "N"), F = a.integer(4, "F", 1);
  float *dgu = a.f32(0, (int64_t)N * 2 * F, "dGateUp"), *dout = a.f32(1, (int64_t)N * F, "dout"), *gu = a.f32(2, (int64_t)N * 2 * F, "gateUp");
  if (!a.ok()) return a.done();
  pool.parallel_for(N, 32, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float *g = gu + n * 2 * F, *u = g + F, *dy = dout + n * F;
      float *dg = dgu + n * 2 * F, *du = dg + F;
      for (int f = 0; f < F; f++) {
        float s = 1.0f / (1.0f + fast_exp(-g[f]));
        float silu = g[f] * s;
        du[f] = dy[f] * silu;
        dg[f] = dy[f] * u[f] * s * (1.0f + g[f] * (1.0f - s));
      }
    }
  });
  return info.Env().Undefined();
}

// embeddingForward(out (N,C), tokens (N) int32, table (V,C), N, C)
static Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(3, "N"), C = a.integer(4, "C", 1);
  float *out = a.f32(0, (int64_t)N * C, "out"), *table = a.f32(2, C, "table");
  int32_t* tokens = a.ids(1, N, a.ok() ? a.length(2) / C : 0, "tokens");
  if (!a.ok()) return a.done();
  for (int n = 0; n < N; n++) std::memcpy(out + (int64_t)n * C, table + (int64_t)tokens[n] * C, sizeof(float) * C);
  return info.Env().Undefined();
}

// embeddingBackward(dtable (V,C) accumulate, dout (N,C), tokens (N), N, C)
static Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(3, "N"), C = a.integer(4, "C", 1);
  float *dtable = a.f32(0, C, "dtable"), *dout = a.f32(1, (int64_t)N * C, "dout");
  int32_t* tokens = a.ids(2, N, a.ok() ? a.length(0) / C : 0, "tokens");
  if (!a.ok()) return a.done();
  for (int n = 0; n < N; n++) {
    float* d = dtable + (int64_t)tokens[n] * C;
    const float* g = dout + (int64_t)n * C;
    for (int c = 0; c < C; c++) d[c] += g[c];
  }
  return info.Env().Undefined();
}

// logprobForward(probs (N,V) logits in, probabilities out; logprobs (N); entropy (N) | null; targets (N), N, V)
static Napi::Value LogprobForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(4, "N"), V = a.integer(5, "V", 1);
  float *probs = a.f32(0, (int64_t)N * V, "probs"), *logprobs = a.f32(1, N, "logprobs"), *entropy = a.f32(2, N, "entropy", true);
  int32_t* targets = a.ids(3, N, V, "targets");
  if (!a.ok()) return a.done();
  pool.parallel_for(N, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      float* row = probs + n * V;
      float maxv = row_max(row, V);
      float sum = 0.0f;
      for (int v = 0; v < V; v++) sum += fast_exp(row[v] - maxv);
      float lse = maxv + std::log(sum);
      logprobs[n] = row[targets[n]] - lse;
      float ent = 0.0f;
      for (int v = 0; v < V; v++) {
        float lp = row[v] - lse, p = fast_exp(lp);
        ent -= p * lp;
        row[v] = p;
      }
      if (entropy) entropy[n] = ent;
    }
  });
  return info.Env().Undefined();
}

// logprobBackward(dlogits (N,V) probabilities in, gradient out; dlogprobs (N), targets (N), N, V)
// d logp(target) / d logit_v = 1[v == target] - p_v
static Napi::Value LogprobBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  int N = a.integer(3, "N"), V = a.integer(4, "V", 1);
  float *d = a.f32(0, (int64_t)N * V, "dlogits"), *dlogprobs = a.f32(1, N, "dlogprobs");
  int32_t* targets = a.ids(2, N, V, "targets");
  if (!a.ok()) return a.done();
  pool.parallel_for(N, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      float* row = d + n * V;
      float g = dlogprobs[n];
      for (int v = 0; v < V; v++) row[v] = -g * row[v];
      row[targets[n]] += g;
    }
  });
  return info.Env().Undefined();
}

// sumSquares(x) -> double
static Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  const float* p = a.f32(0, 0, "x");
  if (!a.ok()) return a.done();
  int64_t n = a.length(0);
  // Blocks of a fixed size, summed in order: the same total whatever the thread count.
  const int64_t kBlock = 65536, blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial((size_t)blocks, 0.0);
  pool.parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t block = b0; block < b1; block++) {
      double s = 0.0;
      for (int64_t i = block * kBlock; i < std::min(n, (block + 1) * kBlock); i++) s += (double)p[i] * p[i];
      partial[block] = s;
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return Napi::Number::New(info.Env(), total);
}

// The AdamW update of n consecutive parameters (a plain function with restrict
// pointers and scalar arguments, so that it vectorizes).
static void adamw_range(float* __restrict p, float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
                        float decay, float b1, float b2, float eps, float step, float bc2sqrt, float gscale) {
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] * gscale;
    g[i] = 0.0f;  // gradients restart from zero for the next accumulation
    float mi = m[i] + (1.0f - b1) * (gi - m[i]);
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (std::sqrt(vi) / bc2sqrt + eps);
  }
}

// adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2, gradScale, decayRanges | null)
// PyTorch's AdamW, in its order of operations: decoupled decay, moments, bias-corrected step. One pass over
// the whole flat buffer; weight decay applies inside the [start, end) pairs of decayRanges (everywhere when null).
// The gradient buffer is zeroed in the same pass.
static Napi::Value AdamW(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args a(info);
  float* param = a.f32(0, 0, "param");
  int64_t n = a.ok() ? a.length(0) : 0;
  float *grad = a.f32(1, n, "grad"), *m = a.f32(2, n, "m"), *v = a.f32(3, n, "v");
  float lr = a.number(4, "lr"), b1 = a.number(5, "beta1"), b2 = a.number(6, "beta2"), eps = a.number(7, "eps"), wd = a.number(8, "weightDecay");
  float bc1 = a.number(9, "biasCorrection1"), bc2 = a.number(10, "biasCorrection2"), gscale = a.number(11, "gradScale");
  a.require(bc1 > 0 && bc2 > 0, "biasCorrection", "must be positive");
  std::vector<int64_t> bounds;  // segment boundaries; decay alternates off/on starting with off
  if (info[12].IsNull() || info[12].IsUndefined()) {
    bounds = {0, 0, n};
  } else if (a.ok()) {
    int64_t count = info[12].IsTypedArray() ? a.length(12) : -1;
    a.require(count >= 0 && count % 2 == 0, "decayRanges", "must be an Int32Array of [start, end) pairs");
    int32_t* ranges = a.ids(12, std::max<int64_t>(count, 0), n + 1, "decayRanges");
    bounds.push_back(0);
    for (int64_t i = 0; a.ok() && i < count; i++) {
      a.require(ranges[i] >= bounds.back(), "decayRanges", "must be sorted and not overlap");
      bounds.push_back(ranges[i]);
    }
    bounds.push_back(n);
  }
  if (!a.ok()) return a.done();
  float step = lr / bc1, bc2sqrt = std::sqrt(bc2);
  pool.parallel_for(n, 8192, [&](int64_t i0, int64_t i1) {
    for (size_t s = 0; s + 1 < bounds.size(); s++) {
      int64_t begin = std::max(i0, bounds[s]), end = std::min(i1, bounds[s + 1]);
      if (begin >= end) continue;
      float decay = (s % 2 == 1) ? 1.0f - lr * wd : 1.0f;
      adamw_range(param + begin, grad + begin, m + begin, v + begin, end - begin, decay, b1, b2, eps, step, bc2sqrt, gscale);
    }
  });
  return info.Env().Undefined();
}

// blasGemmSquare(n, threads) -> seconds: one n×n×n SGEMM by the BLAS itself with its own
// threading (for the benchmark's reference figure); the pool is not involved.
static Napi::Value BlasGemmSquare(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  Args args(info);
  int n = args.integer(0, "n", 1), threads = args.integer(1, "threads", 1);
  args.require(n <= 8192, "n", "must be at most 8192");
  if (!args.ok()) return args.done();
  (void)threads;
  std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n, 0.0f);
#if defined(AUTODIDACT_OPENBLAS)
  openblas_set_num_threads(threads);
#endif
  auto start = std::chrono::steady_clock::now();
  gemm_serial(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n, GemmPath{built_with_blas(), active_gemm.kernel});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#if defined(AUTODIDACT_OPENBLAS)
  openblas_set_num_threads(1);
#endif
  return Napi::Number::New(info.Env(), seconds);
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info);
  int threads = a.integer(0, "threads", 1);
  if (!a.ok()) return a.done();
  if (!pool.resize(threads)) Napi::Error::New(info.Env(), "autodidact: the system refused to start kernel threads").ThrowAsJavaScriptException();
  return a.done();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(AUTODIDACT_OPENBLAS)
  openblas_set_num_threads(1);  // the pool splits GEMMs itself
#endif
  const char* choice = std::getenv("AUTODIDACT_GEMM");
  std::string error = parse_gemm_path(choice && *choice ? choice : "auto", &active_gemm);
  if (!error.empty()) {  // refuse to load rather than silently run another path than the one asked for
    Napi::Error::New(env, "AUTODIDACT_GEMM " + error).ThrowAsJavaScriptException();
    return exports;
  }
  exports.Set("blas", Napi::String::New(env, AUTODIDACT_BLAS_NAME));
  exports.Set("gemmPath", Napi::String::New(env, gemm_path_name(active_gemm)));
  std::vector<GemmPath> runnable = runnable_gemm_paths();
  Napi::Array paths = Napi::Array::New(env, runnable.size());
  for (size_t i = 0; i < runnable.size(); i++) paths.Set((uint32_t)i, Napi::String::New(env, runnable[i].blas ? std::string("blas") : autodidact::micro_kernel_name(runnable[i].kernel)));
  exports.Set("gemmPaths", paths);
  exports.Set("gemmUsing", Napi::Function::New(env, Gemm));
  exports.Set("threads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Number::New(info.Env(), pool.size());
              }));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("blasGemmSquare", Napi::Function::New(env, BlasGemmSquare));
  exports.Set("matmulForward", Napi::Function::New(env, MatmulForward));
  exports.Set("matmulBackward", Napi::Function::New(env, MatmulBackward));
  exports.Set("rmsnormForward", Napi::Function::New(env, RmsnormForward));
  exports.Set("rmsnormBackward", Napi::Function::New(env, RmsnormBackward));
  exports.Set("rope", Napi::Function::New(env, Rope));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("attentionCached", Napi::Function::New(env, AttentionCached));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("logprobForward", Napi::Function::New(env, LogprobForward));
  exports.Set("logprobBackward", Napi::Function::New(env, LogprobBackward));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  return exports;
}

NODE_API_MODULE(autodidact_kernels, Init)
