// Pure helpers of token drawing: log-softmax, entropy, top-k logprobs, and draws from logits or weights (temperature, top-p).
import type { TokenLogprob } from '../spec/policy.js';
import type { Rng } from './random.js';

/** The k most likely tokens of softmax(logits) (temperature 1), most likely first; ties go to the lower id. */
export function topTokens(logits: Float32Array, k: number): TokenLogprob[] {
  let max = -Infinity;
  for (let v = 0; v < logits.length; v++) if (logits[v] > max) max = logits[v];
  let sum = 0;
  for (let v = 0; v < logits.length; v++) sum += Math.exp(logits[v] - max);
  const logZ = max + Math.log(sum);
  const best: number[] = [];
  for (let v = 0; v < logits.length; v++) {
    if (best.length === k && logits[v] <= logits[best[k - 1]]) continue;
    let at = Math.min(best.length, k - 1);
    best[at] = v;
    while (at > 0 && logits[best[at]] > logits[best[at - 1]]) {
      [best[at], best[at - 1]] = [best[at - 1], best[at]];
      at--;
    }
  }
  return best.map((id) => ({ id, logprob: logits[id] - logZ }));
}

/** log softmax(logits)[id], temperature 1. */
export function logSoftmaxAt(logits: Float32Array, id: number): number {
  let max = -Infinity;
  for (let v = 0; v < logits.length; v++) if (logits[v] > max) max = logits[v];
  let sum = 0;
  for (let v = 0; v < logits.length; v++) sum += Math.exp(logits[v] - max);
  return logits[id] - max - Math.log(sum);
}

/** log softmax(logits)[id] and the entropy −Σ p log p of softmax(logits), temperature 1, in one pass over the logits. */
export function logSoftmaxAndEntropy(logits: Float32Array, id: number): { logprob: number; entropy: number } {
  let max = -Infinity;
  for (let v = 0; v < logits.length; v++) if (logits[v] > max) max = logits[v];
  let sum = 0;
  let weighted = 0; // Σ e^(x − max) (x − max)
  for (let v = 0; v < logits.length; v++) {
    const x = logits[v] - max;
    const e = Math.exp(x);
    sum += e;
    weighted += e * x;
  }
  const logZ = Math.log(sum);
  return { logprob: logits[id] - max - logZ, entropy: logZ - weighted / sum };
}

/**
 * Draws a token from softmax(logits) (temperature 1, no top-p) and returns its
 * logprob and the distribution's entropy, from one pass of exponentials. The
 * draw consumes the random stream exactly as pickToken does at temperature 1,
 * so both paths give the same tokens.
 */
export function sampleAtTemperatureOne(logits: Float32Array, rng: Rng, probs: Float64Array): { id: number; logprob: number; entropy: number } {
  const V = logits.length;
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[v] > max) max = logits[v];
  let sum = 0;
  let weighted = 0;
  for (let v = 0; v < V; v++) {
    const x = logits[v] - max;
    const e = (probs[v] = Math.exp(x));
    sum += e;
    weighted += e * x;
  }
  let u = rng.next() * sum;
  let id = V - 1;
  for (let v = 0; v < V; v++) {
    u -= probs[v];
    if (u < 0) {
      id = v;
      break;
    }
  }
  const logZ = Math.log(sum);
  return { id, logprob: logits[id] - max - logZ, entropy: logZ - weighted / sum };
}

/**
 * Draws a token: greedy at temperature 0, else softmax(logits / temperature)
 * restricted to the top-p nucleus. Returns it with its log-probability under
 * that distribution, the behaviour policy (0 for greedy: the choice is certain).
 */
export function pickToken(logits: Float32Array, temperature: number, topP: number, rng: Rng, scratch: { probs: Float64Array; order: Int32Array }): { id: number; logprob: number } {
  const V = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
    return { id: best, logprob: 0 };
  }
  const { probs, order } = scratch;
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[v] > max) max = logits[v];
  for (let v = 0; v < V; v++) probs[v] = Math.exp((logits[v] - max) / temperature);
  return drawWithLogprob(probs, topP, rng, order);
}

/**
 * Draws an index with probability proportional to `weights` (unnormalized),
 * restricted to the top-p nucleus (the smallest most-likely set whose weight
 * reaches topP of the total; ties go to the lower index). `order` is scratch
 * of the same length.
 */
export function drawFromWeights(weights: Float64Array, topP: number, rng: Rng, order: Int32Array): number {
  return drawWithLogprob(weights, topP, rng, order).id;
}

/** drawFromWeights, with the drawn index's log-probability under the distribution drawn from (its weight over the nucleus's). */
export function drawWithLogprob(weights: Float64Array, topP: number, rng: Rng, order: Int32Array): { id: number; logprob: number } {
  const V = weights.length;
  let sum = 0;
  for (let v = 0; v < V; v++) sum += weights[v];
  let mass = sum;
  let count = V;
  for (let v = 0; v < V; v++) order[v] = v;
  if (topP < 1) {
    const sorted = Array.from(order).sort((a, b) => weights[b] - weights[a] || a - b);
    let kept = 0;
    mass = 0;
    while (kept < V && mass < topP * sum) mass += weights[sorted[kept++]];
    count = kept;
    for (let i = 0; i < count; i++) order[i] = sorted[i];
  }
  let u = rng.next() * mass;
  let id = order[count - 1];
  for (let i = 0; i < count; i++) {
    u -= weights[order[i]];
    if (u < 0) {
      id = order[i];
      break;
    }
  }
  return { id, logprob: Math.log(weights[id]) - Math.log(mass) };
}
