type F32 = Float32Array;
type I32 = Int32Array;

/**
 * The paired forward/backward kernels of the engine. Two implementations share
 * these signatures: the C++ addon (src/native/kernels.cc) and the TypeScript
 * reference (kernels-ts.ts). Shapes: N rows (= B·T), C channels, H heads,
 * F MLP hidden, V vocab. "accumulate" means `+=` into the output.
 */
export interface Kernels {
  readonly name: 'native' | 'ts';
  /** The BLAS the addon was built with: 'openblas' | 'accelerate' | 'none' | 'ts'. */
  readonly blas: string;
  /**
   * The GEMM that runs, chosen by AUTODIDACT_GEMM at load: 'own-avx2' | 'own-avx512' | 'own-scalar'
   * (src/native/gemm.cc) | 'openblas' | 'accelerate' | 'ts'.
   */
  readonly gemmPath: string;
  threads(): number;
  setThreads(threads: number): void;
  /** Row-major C = alpha·op(A)·op(B) + beta·C with op(A) (M,K), op(B) (K,N). */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number): void;
  /** out (N,OC) (+)= inp (N,C) · weight (OC,C)ᵀ */
  matmulForward(out: F32, inp: F32, weight: F32, N: number, C: number, OC: number, accumulate: boolean): void;
  /** dinp (N,C) (+)= dout · weight (skipped when null); dweight (OC,C) += doutᵀ · inp */
  matmulBackward(dinp: F32 | null, dweight: F32, dout: F32, inp: F32, weight: F32, N: number, C: number, OC: number, accumulateInput: boolean): void;
  /** out = weight ⊙ x / rms(x); rstd (N) saved for backward */
  rmsnormForward(out: F32, rstd: F32, inp: F32, weight: F32, N: number, C: number, eps: number): void;
  /** dinp (N,C) += …, dweight (C) += … */
  rmsnormBackward(dinp: F32, dweight: F32, dout: F32, inp: F32, weight: F32, rstd: F32, N: number, C: number): void;
  /** Rotates the q and k parts of qkv (N,3C) in place at `positions`; `inverse` undoes it (the backward pass). */
  rope(qkv: F32, positions: I32, cos: F32, sin: F32, N: number, C: number, H: number, inverse: boolean): void;
  /** Causal attention: out (B,T,C), att (B,H,T,T) probabilities saved for backward, qkv (B,T,3C) roped. */
  attentionForward(out: F32, att: F32, qkv: F32, B: number, T: number, C: number, H: number): void;
  /** dqkv (B,T,3C) is overwritten. */
  attentionBackward(dqkv: F32, dout: F32, qkv: F32, att: F32, B: number, T: number, C: number, H: number): void;
  /** Sampling attention over a head-major KV cache (slots, H, maxT, D): row n writes its k, v at positions[n] of slot slots[n] and attends to 0..positions[n]. */
  attentionCached(out: F32, qkv: F32, kCache: F32, vCache: F32, slots: I32, positions: I32, N: number, C: number, H: number, maxT: number): void;
  /** out (N,F) = silu(gate) ⊙ up, gateUp (N,2F) = [gate | up] per row */
  swigluForward(out: F32, gateUp: F32, N: number, F: number): void;
  /** dGateUp (N,2F) is overwritten. */
  swigluBackward(dGateUp: F32, dout: F32, gateUp: F32, N: number, F: number): void;
  embeddingForward(out: F32, tokens: I32, table: F32, N: number, C: number): void;
  /** dtable (V,C) += scatter of dout (N,C) */
  embeddingBackward(dtable: F32, dout: F32, tokens: I32, N: number, C: number): void;
  /** probs (N,V): logits in, softmax out; logprobs (N) of targets; entropy (N) when given. */
  logprobForward(probs: F32, logprobs: F32, entropy: F32 | null, targets: I32, N: number, V: number): void;
  /** dlogits (N,V): probabilities in, d(loss)/d(logits) out, from dlogprobs (N). */
  logprobBackward(dlogits: F32, dlogprobs: F32, targets: I32, N: number, V: number): void;
  sumSquares(x: F32): number;
  /**
   * One AdamW update over a whole flat buffer, PyTorch's order of operations. The gradient is multiplied by
   * gradScale first (clipping); weight decay applies inside the sorted [start, end) pairs of decayRanges (all when null).
   * The gradient is zeroed in the same pass, ready for the next accumulation.
   */
  adamw(param: F32, grad: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, biasCorrection1: number, biasCorrection2: number, gradScale: number, decayRanges: I32 | null): void;
}
