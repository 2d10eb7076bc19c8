import type { Kernels } from './kernel-types.js';

/**
 * The TypeScript reference of every kernel in src/native/kernels.cc: plain
 * loops, written for clarity. Used as the reference in tests, with
 * AUTODIDACT_KERNELS=ts, and as the fallback where the addon cannot build.
 */

type F32 = Float32Array;

function gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[p * lda + i] : A[i * lda + p];
        const b = transB ? B[j * ldb + p] : B[p * ldb + j];
        sum += a * b;
      }
      const at = i * ldc + j;
      C[at] = alpha * sum + (beta === 0 ? 0 : beta * C[at]);
    }
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export const tsKernels: Kernels = {
  name: 'ts',
  blas: 'ts',
  gemmPath: 'ts',
  threads: () => 1,
  setThreads: () => {},
  gemm,

  matmulForward(out, inp, weight, N, C, OC, accumulate) {
    gemm(false, true, N, OC, C, 1, inp, C, weight, C, accumulate ? 1 : 0, out, OC);
  },

  matmulBackward(dinp, dweight, dout, inp, weight, N, C, OC, accumulateInput) {
    if (dinp) gemm(false, false, N, C, OC, 1, dout, OC, weight, C, accumulateInput ? 1 : 0, dinp, C);
    gemm(true, false, OC, C, N, 1, dout, OC, inp, C, 1, dweight, C);
  },

  rmsnormForward(out, rstd, inp, weight, N, C, eps) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let c = 0; c < C; c++) sum += inp[n * C + c] ** 2;
      const r = 1 / Math.sqrt(sum / C + eps);
      rstd[n] = r;
      for (let c = 0; c < C; c++) out[n * C + c] = weight[c] * inp[n * C + c] * r;
    }
  },

  rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, N, C) {
    // y_c = w_c x_c r, r = (mean(x²) + eps)^(-1/2), dr/dx_c = -r³ x_c / C
    for (let n = 0; n < N; n++) {
      const r = rstd[n];
      let dot = 0;
      for (let c = 0; c < C; c++) {
        dot += weight[c] * dout[n * C + c] * inp[n * C + c];
        dweight[c] += dout[n * C + c] * inp[n * C + c] * r;
      }
      for (let c = 0; c < C; c++) {
        dinp[n * C + c] += r * weight[c] * dout[n * C + c] - (dot * r * r * r * inp[n * C + c]) / C;
      }
    }
  },

  rope(qkv, positions, cos, sin, N, C, H, inverse) {
    const D = C / H;
    const half = D / 2;
    const sign = inverse ? -1 : 1;
    for (let n = 0; n < N; n++) {
      const table = positions[n] * half;
      for (let part = 0; part < 2; part++) {
        for (let h = 0; h < H; h++) {
          const base = n * 3 * C + part * C + h * D;
          for (let i = 0; i < half; i++) {
            const a = qkv[base + i];
            const b = qkv[base + i + half];
            const c = cos[table + i];
            const s = sign * sin[table + i];
            qkv[base + i] = a * c - b * s;
            qkv[base + i + half] = b * c + a * s;
          }
        }
      }
    }
  },

  attentionForward(out, att, qkv, B, T, C, H) {
    const D = C / H;
    const scale = 1 / Math.sqrt(D);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const p = (b * H + h) * T * T;
        for (let t = 0; t < T; t++) {
          const q = (b * T + t) * 3 * C + h * D;
          let max = -Infinity;
          for (let u = 0; u <= t; u++) {
            const k = (b * T + u) * 3 * C + C + h * D;
            let s = 0;
            for (let d = 0; d < D; d++) s += qkv[q + d] * qkv[k + d];
            att[p + t * T + u] = s * scale;
            max = Math.max(max, s * scale);
          }
          let sum = 0;
          for (let u = 0; u <= t; u++) {
            const e = Math.exp(att[p + t * T + u] - max);
            att[p + t * T + u] = e;
            sum += e;
          }
          for (let u = 0; u < T; u++) att[p + t * T + u] = u <= t ? att[p + t * T + u] / sum : 0;
          const y = (b * T + t) * C + h * D;
          for (let d = 0; d < D; d++) {
            let acc = 0;
            for (let u = 0; u <= t; u++) acc += att[p + t * T + u] * qkv[(b * T + u) * 3 * C + 2 * C + h * D + d];
            out[y + d] = acc;
          }
        }
      }
    }
  },

  attentionBackward(dqkv, dout, qkv, att, B, T, C, H) {
    const D = C / H;
    const scale = 1 / Math.sqrt(D);
    const dp = new Float64Array(T);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const p = (b * H + h) * T * T;
        for (let t = 0; t < T; t++) {
          const row = (b * T + t) * 3 * C;
          for (let d = 0; d < D; d++) {
            dqkv[row + h * D + d] = 0;
            dqkv[row + C + h * D + d] = 0;
            dqkv[row + 2 * C + h * D + d] = 0;
          }
        }
        for (let t = 0; t < T; t++) {
          const y = (b * T + t) * C + h * D;
          const q = (b * T + t) * 3 * C + h * D;
          // dP[t,u] = dY[t]·V[u]; dV[u] += P[t,u] dY[t]
          let dot = 0;
          for (let u = 0; u <= t; u++) {
            const v = (b * T + u) * 3 * C + 2 * C + h * D;
            let s = 0;
            for (let d = 0; d < D; d++) {
              s += dout[y + d] * qkv[v + d];
              dqkv[v + d] += att[p + t * T + u] * dout[y + d];
            }
            dp[u] = s;
            dot += att[p + t * T + u] * s;
          }
          // dS = P (dP − Σ P dP) · scale; dQ[t] += dS K[u]; dK[u] += dS Q[t]
          for (let u = 0; u <= t; u++) {
            const ds = att[p + t * T + u] * (dp[u] - dot) * scale;
            const k = (b * T + u) * 3 * C + C + h * D;
            for (let d = 0; d < D; d++) {
              dqkv[q + d] += ds * qkv[k + d];
              dqkv[k + d] += ds * qkv[q + d];
            }
          }
        }
      }
    }
  },

  attentionCached(out, qkv, kCache, vCache, slots, positions, N, C, H, maxT) {
    const D = C / H;
    const scale = 1 / Math.sqrt(D);
    const base = (n: number, h: number) => (slots[n] * H + h) * maxT * D; // cache layout (slots, H, maxT, D)
    for (let n = 0; n < N; n++) {
      for (let h = 0; h < H; h++) {
        const at = base(n, h) + positions[n] * D;
        kCache.set(qkv.subarray(n * 3 * C + C + h * D, n * 3 * C + C + (h + 1) * D), at);
        vCache.set(qkv.subarray(n * 3 * C + 2 * C + h * D, n * 3 * C + 2 * C + (h + 1) * D), at);
      }
    }
    for (let n = 0; n < N; n++) {
      const L = positions[n] + 1;
      for (let h = 0; h < H; h++) {
        const cache = base(n, h);
        const scores = new Float64Array(L);
        let max = -Infinity;
        for (let u = 0; u < L; u++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += qkv[n * 3 * C + h * D + d] * kCache[cache + u * D + d];
          scores[u] = s * scale;
          max = Math.max(max, scores[u]);
        }
        let sum = 0;
        for (let u = 0; u < L; u++) sum += (scores[u] = Math.exp(scores[u] - max));
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let u = 0; u < L; u++) acc += (scores[u] / sum) * vCache[cache + u * D + d];
          out[n * C + h * D + d] = acc;
        }
      }
    }
  },

  swigluForward(out, gateUp, N, F) {
    for (let n = 0; n < N; n++) {
      for (let f = 0; f < F; f++) {
        const g = gateUp[n * 2 * F + f];
        out[n * F + f] = g * sigmoid(g) * gateUp[n * 2 * F + F + f];
      }
    }
  },

  swigluBackward(dGateUp, dout, gateUp, N, F) {
    for (let n = 0; n < N; n++) {
      for (let f = 0; f < F; f++) {
        const g = gateUp[n * 2 * F + f];
        const u = gateUp[n * 2 * F + F + f];
        const s = sigmoid(g);
        const dy = dout[n * F + f];
        dGateUp[n * 2 * F + F + f] = dy * g * s;
        dGateUp[n * 2 * F + f] = dy * u * s * (1 + g * (1 - s));
      }
    }
  },

  embeddingForward(out, tokens, table, N, C) {
    for (let n = 0; n < N; n++) out.set(table.subarray(tokens[n] * C, tokens[n] * C + C), n * C);
  },

  embeddingBackward(dtable, dout, tokens, N, C) {
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) dtable[tokens[n] * C + c] += dout[n * C + c];
  },

  logprobForward(probs, logprobs, entropy, targets, N, V) {
    for (let n = 0; n < N; n++) {
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, probs[n * V + v]);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(probs[n * V + v] - max);
      const lse = max + Math.log(sum);
      logprobs[n] = probs[n * V + targets[n]] - lse;
      let ent = 0;
      for (let v = 0; v < V; v++) {
        const lp = probs[n * V + v] - lse;
        const p = Math.exp(lp);
        ent -= p * lp;
        probs[n * V + v] = p;
      }
      if (entropy) entropy[n] = ent;
    }
  },

  logprobBackward(dlogits, dlogprobs, targets, N, V) {
    for (let n = 0; n < N; n++) {
      for (let v = 0; v < V; v++) dlogits[n * V + v] = -dlogprobs[n] * dlogits[n * V + v];
      dlogits[n * V + targets[n]] += dlogprobs[n];
    }
  },

  sumSquares(x) {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
    return sum;
  },

  adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2, gradScale, decayRanges) {
    const step = lr / biasCorrection1;
    const bc2sqrt = Math.sqrt(biasCorrection2);
    const decays = new Uint8Array(param.length);
    if (!decayRanges) decays.fill(1);
    else for (let r = 0; r < decayRanges.length; r += 2) decays.fill(1, decayRanges[r], decayRanges[r + 1]);
    for (let i = 0; i < param.length; i++) {
      const g = grad[i] * gradScale;
      grad[i] = 0;
      if (decays[i]) param[i] *= 1 - lr * weightDecay;
      m[i] += (1 - beta1) * (g - m[i]);
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      param[i] -= (step * m[i]) / (Math.sqrt(v[i]) / bc2sqrt + eps);
    }
  },
};
