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
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

// Dot product with 8 independent partial sums, so that it vectorizes without
// -ffast-math (the order of additions differs from a serial loop, which the
// tests' tolerances allow).
static inline float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; i++) sum += a[i] * b[i];
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
  void resize(int threads) {
    std::lock_guard<std::mutex> use(use_mutex_);
    shutdown();
    threads_ = std::max(1, threads);
    stop_ = false;
    for (int i = 1; i < threads_; i++) workers_.emplace_back([this, i] { loop(i); });
  }
  int size() const { return threads_; }

  // Runs fn(thread_index) on every thread of the pool and waits for all.
  void run(const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> use(use_mutex_);
    if (threads_ == 1) {
      fn(0);
      return;
    }
    task_ = &fn;
    remaining_.store(threads_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    fn(0);
    while (remaining_.load(std::memory_order_acquire) != 0) cpu_relax();
    task_ = nullptr;
  }

  // Splits [0, n) into one contiguous chunk per thread.
  void parallel_for(int64_t n, int64_t min_per_thread, const std::function<void(int64_t, int64_t)>& fn) {
    int64_t chunks = std::min<int64_t>(threads_, std::max<int64_t>(1, n / std::max<int64_t>(1, min_per_thread)));
    if (chunks <= 1) {
      fn(0, n);
      return;
    }
    run([&](int t) {
      if (t >= chunks) return;
      int64_t begin = n * t / chunks, end = n * (t + 1) / chunks;
      if (begin < end) fn(begin, end);
    });
  }

  ~Pool() { shutdown(); }

 private:
  void shutdown() {
    if (workers_.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void loop(int index) {
    FlushDenormals flush;
    uint64_t seen = generation_.load(std::memory_order_acquire);
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
      if (stop_) return;
      (*task_)(index);
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> remaining_{0};
  std::mutex mutex_;
  std::mutex use_mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
};

static Pool pool;

// ---------------------------------------------------------------------------
// GEMM, row-major: C = alpha * op(A) @ op(B) + beta * C, op(A) (M,K), op(B) (K,N).

static void gemm_serial(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                        const float* B, int ldb, float beta, float* C, int ldc) {
#if defined(AUTODIDACT_OPENBLAS) || defined(AUTODIDACT_ACCELERATE)
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
#else
  // Portable kernel: i-p-j order so the innermost loop is contiguous in C.
  for (int i = 0; i < M; i++) {
    float* c = C + (int64_t)i * ldc;
    if (beta == 0.0f) std::fill(c, c + N, 0.0f);
    else if (beta != 1.0f) for (int j = 0; j < N; j++) c[j] *= beta;
    if (!tb) {
      for (int p = 0; p < K; p++) {
        float a = alpha * (ta ? A[(int64_t)p * lda + i] : A[(int64_t)i * lda + p]);
        if (a == 0.0f) continue;
        const float* b = B + (int64_t)p * ldb;
        for (int j = 0; j < N; j++) c[j] += a * b[j];
      }
    } else {
      for (int j = 0; j < N; j++) {
        const float* b = B + (int64_t)j * ldb;
        float sum = 0.0f;
        if (!ta) {
          const float* a = A + (int64_t)i * lda;
          for (int p = 0; p < K; p++) sum += a[p] * b[p];
        } else {
          for (int p = 0; p < K; p++) sum += A[(int64_t)p * lda + i] * b[p];
        }
        c[j] += alpha * sum;
      }
    }
  }
#endif
}

// Splits the larger of M and N over the pool; each part is a serial GEMM.
static void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc) {
  int threads = pool.size();
  if (threads == 1 || (int64_t)M * N * K < (int64_t)64 * 64 * 64) {  // small: dispatch costs more than it saves
    gemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (M >= N) {
    pool.parallel_for(M, 16, [&](int64_t i0, int64_t i1) {
      const float* a = ta ? A + i0 : A + i0 * lda;
      gemm_serial(ta, tb, (int)(i1 - i0), N, K, alpha, a, lda, B, ldb, beta, C + i0 * ldc, ldc);
    });
  } else {
    pool.parallel_for(N, 16, [&](int64_t j0, int64_t j1) {
      const float* b = tb ? B + j0 * ldb : B + j0;
      gemm_serial(ta, tb, M, (int)(j1 - j0), K, alpha, A, lda, b, ldb, beta, C + j0, ldc);
    });
  }
}

// ---------------------------------------------------------------------------
// Argument helpers

static float* F32(const Napi::CallbackInfo& info, int i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return info[i].As<Napi::Float32Array>().Data();
}
static int32_t* I32(const Napi::CallbackInfo& info, int i) { return info[i].As<Napi::Int32Array>().Data(); }
static int Int(const Napi::CallbackInfo& info, int i) { return info[i].As<Napi::Number>().Int32Value(); }
static float Float(const Napi::CallbackInfo& info, int i) { return info[i].As<Napi::Number>().FloatValue(); }
static bool Bool(const Napi::CallbackInfo& info, int i) { return info[i].ToBoolean().Value(); }

// ---------------------------------------------------------------------------
// Kernels

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): exposed for tests and the GEMM benchmark.
static Napi::Value Gemm(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  gemm(Bool(info, 0), Bool(info, 1), Int(info, 2), Int(info, 3), Int(info, 4), Float(info, 5), F32(info, 6),
       Int(info, 7), F32(info, 8), Int(info, 9), Float(info, 10), F32(info, 11), Int(info, 12));
  return info.Env().Undefined();
}

// matmulForward(out (N,OC), inp (N,C), weight (OC,C), N, C, OC, accumulate): out (+)= inp @ weight^T
static Napi::Value MatmulForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  int N = Int(info, 3), C = Int(info, 4), OC = Int(info, 5);
  gemm(false, true, N, OC, C, 1.0f, F32(info, 1), C, F32(info, 2), C, Bool(info, 6) ? 1.0f : 0.0f, F32(info, 0), OC);
  return info.Env().Undefined();
}

// matmulBackward(dinp (N,C) | null, dweight (OC,C), dout (N,OC), inp (N,C), weight (OC,C), N, C, OC, accumulateInput)
// dinp (+)= dout @ weight; dweight += dout^T @ inp
static Napi::Value MatmulBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  float *dinp = F32(info, 0), *dweight = F32(info, 1), *dout = F32(info, 2), *inp = F32(info, 3), *weight = F32(info, 4);
  int N = Int(info, 5), C = Int(info, 6), OC = Int(info, 7);
  if (dinp) gemm(false, false, N, C, OC, 1.0f, dout, OC, weight, C, Bool(info, 8) ? 1.0f : 0.0f, dinp, C);
  gemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  return info.Env().Undefined();
}

// rmsnormForward(out (N,C), rstd (N), inp (N,C), weight (C), N, C, eps)
static Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  float *out = F32(info, 0), *rstd = F32(info, 1), *inp = F32(info, 2), *weight = F32(info, 3);
  int C = Int(info, 5);
  float eps = Float(info, 6);
  pool.parallel_for(Int(info, 4), 64, [&](int64_t n0, int64_t n1) {
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
  float *dinp = F32(info, 0), *dweight = F32(info, 1), *dout = F32(info, 2), *inp = F32(info, 3), *weight = F32(info, 4),
        *rstd = F32(info, 5);
  int N = Int(info, 6), C = Int(info, 7);
  std::vector<float> partial((size_t)pool.size() * C, 0.0f);
  int64_t chunks = std::min<int64_t>(pool.size(), std::max(1, N / 64));
  pool.run([&](int t) {
    if (t >= chunks) return;
    int64_t n0 = (int64_t)N * t / chunks, n1 = (int64_t)N * (t + 1) / chunks;
    float* dw = partial.data() + (size_t)t * C;
    for (int64_t n = n0; n < n1; n++) {
      const float *x = inp + n * C, *dy = dout + n * C;
      float r = rstd[n], dot = 0.0f;
      for (int c = 0; c < C; c++) {
        dot += weight[c] * dy[c] * x[c];
        dw[c] += dy[c] * x[c] * r;
      }
      float k = dot * r * r * r / C;
      float* dx = dinp + n * C;
      for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - k * x[c];
    }
  });
  for (int64_t t = 0; t < chunks; t++)
    for (int c = 0; c < C; c++) dweight[c] += partial[(size_t)t * C + c];
  return info.Env().Undefined();
}

// rope(qkv (N,3C), positions (N) int32, cos (maxT,D/2), sin (maxT,D/2), N, C, H, inverse)
// Rotates q and k in place, rotate-half convention of transformers' Llama: pairs (i, i + D/2).
// inverse rotates by -angle: the backward pass of a rotation.
static Napi::Value Rope(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  float* qkv = F32(info, 0);
  int32_t* positions = I32(info, 1);
  float *cosT = F32(info, 2), *sinT = F32(info, 3);
  int C = Int(info, 5), H = Int(info, 6);
  float sign = Bool(info, 7) ? -1.0f : 1.0f;
  int D = C / H, half = D / 2;
  pool.parallel_for(Int(info, 4), 64, [&](int64_t n0, int64_t n1) {
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
  float *out = F32(info, 0), *att = F32(info, 1), *qkv = F32(info, 2);
  int B = Int(info, 3), T = Int(info, 4), C = Int(info, 5), H = Int(info, 6);
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
  float *dqkv = F32(info, 0), *dout = F32(info, 1), *qkv = F32(info, 2), *att = F32(info, 3);
  int B = Int(info, 4), T = Int(info, 5), C = Int(info, 6), H = Int(info, 7);
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
      for (int t = 0; t < T; t++) {  // dK and dV accumulate over row blocks
        std::fill(dk + (int64_t)t * 3 * C, dk + (int64_t)t * 3 * C + D, 0.0f);
        std::fill(dv + (int64_t)t * 3 * C, dv + (int64_t)t * 3 * C + D, 0.0f);
      }
      const float* p = att + bh * T * T;
      const float* dy = dout + b * T * C + h * D;  // (T,D) stride C
      for (int r0 = 0; r0 < T; r0 += kAttentionBlock) {
        int r1 = std::min(T, r0 + kAttentionBlock), rows = r1 - r0;
        const float* pb = p + (int64_t)r0 * T;
        const float* dyb = dy + (int64_t)r0 * C;
        gemm_serial(false, true, rows, r1, D, 1.0f, dyb, C, v, 3 * C, 0.0f, dp.data(), T);  // dP = dY V^T
        gemm_serial(true, false, r1, D, rows, 1.0f, pb, T, dyb, C, 1.0f, dv, 3 * C);        // dV += P^T dY
        for (int t = r0; t < r1; t++) {  // dS = P * (dP - rowsum(P * dP)) * scale
          const float* pr = p + (int64_t)t * T;
          float* dr = dp.data() + (int64_t)(t - r0) * T;
          float dotp = dot(pr, dr, t + 1);
          for (int u = 0; u <= t; u++) dr[u] = pr[u] * (dr[u] - dotp) * scale;
          for (int u = t + 1; u < r1; u++) dr[u] = 0.0f;
        }
        gemm_serial(false, false, rows, D, r1, 1.0f, dp.data(), T, k, 3 * C, 0.0f, dq + (int64_t)r0 * 3 * C, 3 * C);  // dQ = dS K
        gemm_serial(true, false, r1, D, rows, 1.0f, dp.data(), T, q + (int64_t)r0 * 3 * C, 3 * C, 1.0f, dk, 3 * C);  // dK += dS^T Q
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
  float *out = F32(info, 0), *qkv = F32(info, 1), *kc = F32(info, 2), *vc = F32(info, 3);
  int32_t *slots = I32(info, 4), *positions = I32(info, 5);
  int N = Int(info, 6), C = Int(info, 7), H = Int(info, 8), maxT = Int(info, 9);
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
  float *out = F32(info, 0), *gu = F32(info, 1);
  int F = Int(info, 3);
  pool.parallel_for(Int(info, 2), 32, [&](int64_t n0, int64_t n1) { swiglu_rows(out, gu, n0, n1, F); });
  return info.Env().Undefined();
}

// swigluBackward(dGateUp (N,2F) overwritten, dout (N,F), gateUp (N,2F), N, F)
static Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  float *dgu = F32(info, 0), *dout = F32(info, 1), *gu = F32(info, 2);
  int F = Int(info, 4);
  pool.parallel_for(Int(info, 3), 32, [&](int64_t n0, int64_t n1) {
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
  float *out = F32(info, 0), *table = F32(info, 2);
  int32_t* tokens = I32(info, 1);
  int N = Int(info, 3), C = Int(info, 4);
  for (int n = 0; n < N; n++) std::memcpy(out + (int64_t)n * C, table + (int64_t)tokens[n] * C, sizeof(float) * C);
  return info.Env().Undefined();
}

// embeddingBackward(dtable (V,C) accumulate, dout (N,C), tokens (N), N, C)
static Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  FlushDenormals flush;
  float *dtable = F32(info, 0), *dout = F32(info, 1);
  int32_t* tokens = I32(info, 2);
  int N = Int(info, 3), C = Int(info, 4);
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
  float *probs = F32(info, 0), *logprobs = F32(info, 1), *entropy = F32(info, 2);
  int32_t* targets = I32(info, 3);
  int V = Int(info, 5);
  pool.parallel_for(Int(info, 4), 16, [&](int64_t n0, int64_t n1) {
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
  float *d = F32(info, 0), *dlogprobs = F32(info, 1);
  int32_t* targets = I32(info, 2);
  int V = Int(info, 4);
  pool.parallel_for(Int(info, 3), 16, [&](int64_t n0, int64_t n1) {
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
  Napi::Float32Array x = info[0].As<Napi::Float32Array>();
  const float* p = x.Data();
  int64_t n = (int64_t)x.ElementLength();
  std::vector<double> partial(pool.size(), 0.0);
  int64_t chunks = std::min<int64_t>(pool.size(), std::max<int64_t>(1, n / 65536));
  pool.run([&](int t) {
    if (t >= chunks) return;
    int64_t i0 = n * t / chunks, i1 = n * (t + 1) / chunks;
    double s = 0.0;
    for (int64_t i = i0; i < i1; i++) s += (double)p[i] * p[i];
    partial[t] = s;
  });
  double total = 0.0;
  for (int64_t t = 0; t < chunks; t++) total += partial[t];
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
  Napi::Float32Array pa = info[0].As<Napi::Float32Array>();
  float *param = pa.Data(), *grad = F32(info, 1), *m = F32(info, 2), *v = F32(info, 3);
  float lr = Float(info, 4), b1 = Float(info, 5), b2 = Float(info, 6), eps = Float(info, 7), wd = Float(info, 8);
  float bc1 = Float(info, 9), bc2 = Float(info, 10), gscale = Float(info, 11);
  int64_t n = (int64_t)pa.ElementLength();
  std::vector<int64_t> bounds;  // segment boundaries; decay alternates off/on starting with off
  if (info[12].IsNull() || info[12].IsUndefined()) {
    bounds = {0, 0, n};
  } else {
    Napi::Int32Array ranges = info[12].As<Napi::Int32Array>();
    bounds.push_back(0);
    for (size_t i = 0; i < ranges.ElementLength(); i++) bounds.push_back(ranges[i]);
    bounds.push_back(n);
  }
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
  int n = Int(info, 0);
  std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n, 0.0f);
#if defined(AUTODIDACT_OPENBLAS)
  openblas_set_num_threads(Int(info, 1));
#endif
  auto start = std::chrono::steady_clock::now();
  gemm_serial(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#if defined(AUTODIDACT_OPENBLAS)
  openblas_set_num_threads(1);
#endif
  return Napi::Number::New(info.Env(), seconds);
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  pool.resize(Int(info, 0));
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(AUTODIDACT_OPENBLAS)
  openblas_set_num_threads(1);  // the pool splits GEMMs itself
#endif
  exports.Set("blas", Napi::String::New(env, AUTODIDACT_BLAS_NAME));
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
