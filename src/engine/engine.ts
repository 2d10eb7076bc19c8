import { InvalidArgumentError, InternalError } from '../errors.js';
import type { Datum, ForwardOptions, ForwardResult } from '../spec/training-backend.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { resolveModelConfig, type ModelConfigInput } from './config.js';
import { getKernels, type Kernels } from './kernels.js';
import { Model, parameterCount } from './model.js';
import { AdamW, type AdamParams, type OptimStepResult } from './optimizer.js';
import type { Completion } from '../spec/policy.js';
import { sampleRequests, sampleSequences, type SampleOptions, type SampleRequest, type TokenListener } from './sampler.js';
import { ByteTokenizer, type Tokenizer } from './tokenizer.js';

/** A batch packed into (B, T) arrays, right-padded; padding has weight 0 and is never returned. */
interface PackedBatch {
  B: number;
  T: number;
  lengths: number[];
  tokens: Int32Array; // (B*T)
  targets: Int32Array; // (B*T)
  weights: Float32Array; // (B*T)
}

export interface EngineOptions {
  /** Model shape for a fresh model (ignored when `checkpoint` is given). */
  model?: ModelConfigInput;
  /** Start from this checkpoint directory. */
  checkpoint?: string;
  /** 'native' | 'ts' | 'auto' (default: AUTODIDACT_KERNELS, else auto). */
  kernels?: string;
}

/**
 * The engine, synchronous: model + AdamW + tokenizer behind the training-backend
 * operations. EmbeddedBackend runs one of these in a worker thread so the
 * event loop stays free; tests and benchmarks may drive it directly.
 */
export class EngineCore {
  model: Model;
  optimizer: AdamW;
  tokenizer: Tokenizer;
  readonly kernels: Kernels;
  private pendingBackward: PackedBatch | null = null;

  constructor(options: EngineOptions = {}) {
    this.kernels = getKernels(options.kernels);
    if (options.checkpoint) {
      const loaded = this.loadInto(options.checkpoint);
      this.model = loaded.model;
      this.optimizer = loaded.optimizer;
      this.tokenizer = loaded.tokenizer;
    } else {
      this.model = new Model(resolveModelConfig(options.model), this.kernels);
      this.optimizer = new AdamW(this.model);
      this.tokenizer = new ByteTokenizer();
    }
  }

  info() {
    return {
      config: this.model.config,
      parameters: parameterCount(this.model.config),
      kernels: this.kernels.name,
      blas: this.kernels.blas,
      gemm: this.kernels.gemmPath,
      threads: this.kernels.threads(),
      optimizerStep: this.optimizer.step,
    };
  }

  forward(batch: readonly Datum[], options: ForwardOptions = {}): ForwardResult {
    this.pendingBackward = null; // a forward replaces the activations a pending custom-loss backward needs
    const packed = this.pack(batch);
    const out = this.model.forward(packed.tokens, packed.targets, packed.B, packed.T, options);
    return { logprobs: this.unpack(packed, out.logprobs), entropy: out.entropy ? this.unpack(packed, out.entropy) : undefined };
  }

  /** Built-in cross-entropy: loss = Σ −w·logp, so d(loss)/d(logp) = −w. Forward and backward in one call. */
  forwardBackwardCrossEntropy(batch: readonly Datum[], options: ForwardOptions = {}): { loss: number; logprobs: Float32Array[]; entropy?: Float32Array[]; tokens: number } {
    this.pendingBackward = null;
    const packed = this.pack(batch);
    const { logprobs, entropy } = this.model.forward(packed.tokens, packed.targets, packed.B, packed.T, options);
    let loss = 0;
    let tokens = 0;
    const dlogprobs = new Float32Array(packed.B * packed.T);
    for (let i = 0; i < dlogprobs.length; i++) {
      const w = packed.weights[i];
      if (w === 0) continue;
      loss -= w * logprobs[i];
      dlogprobs[i] = -w;
      tokens++;
    }
    const perDatum = this.unpack(packed, logprobs);
    const entropyPerDatum = entropy ? this.unpack(packed, entropy) : undefined;
    this.model.backward(dlogprobs);
    return { loss, logprobs: perDatum, entropy: entropyPerDatum, tokens };
  }

  /** First half of a custom-loss step: forward, keeping activations for backwardWith(). */
  forwardForLoss(batch: readonly Datum[], options: ForwardOptions = {}): { logprobs: Float32Array[]; entropy?: Float32Array[] } {
    const packed = this.pack(batch);
    const { logprobs, entropy } = this.model.forward(packed.tokens, packed.targets, packed.B, packed.T, options);
    this.pendingBackward = packed;
    return { logprobs: this.unpack(packed, logprobs), entropy: entropy ? this.unpack(packed, entropy) : undefined };
  }

  /** Second half: d(loss)/d(logprob) per datum → gradients accumulate. */
  backwardWith(grad: ArrayLike<number>[]): void {
    const packed = this.pendingBackward;
    if (!packed) throw new InternalError('backwardWith() needs forwardForLoss() first');
    this.pendingBackward = null;
    if (grad.length !== packed.B) throw new InvalidArgumentError('loss.grad', `has ${grad.length} rows for a batch of ${packed.B}`);
    const dlogprobs = new Float32Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const row = grad[b];
      if (row.length !== packed.lengths[b]) throw new InvalidArgumentError(`loss.grad[${b}]`, `has ${row.length} values for a datum of ${packed.lengths[b]} tokens`);
      for (let t = 0; t < row.length; t++) {
        const value = row[t];
        if (!Number.isFinite(value)) throw new InvalidArgumentError(`loss.grad[${b}][${t}]`, `is ${value}; the loss function must return finite gradients`);
        dlogprobs[b * packed.T + t] = value;
      }
    }
    this.model.backward(dlogprobs);
  }

  optimStep(params: AdamParams): OptimStepResult {
    return this.optimizer.apply(params);
  }

  sample(prompts: readonly (string | readonly number[])[], options: SampleOptions = {}): Completion[][] {
    const ids = prompts.map((prompt) => (typeof prompt === 'string' ? this.tokenizer.encode(prompt, { addBos: true }) : Array.from(prompt)));
    return sampleSequences(this.model, this.tokenizer, ids, options);
  }

  /** Requests with their own settings, batched into one KV-cached decode (see sampleRequests); `onStep` sees each step's tokens. */
  sampleRequests(requests: readonly SampleRequest[], onStep?: TokenListener): Completion[][] {
    return sampleRequests(this.model, this.tokenizer, requests, onStep);
  }

  save(dir: string, extra?: Record<string, unknown>): void {
    saveCheckpoint(dir, this.model, { tokenizer: this.tokenizer, optimizer: this.optimizer, extra });
  }

  load(dir: string, options: { weightsOnly?: boolean } = {}): void {
    const loaded = this.loadInto(dir, options.weightsOnly);
    this.model = loaded.model;
    this.optimizer = loaded.optimizer;
    this.tokenizer = loaded.tokenizer;
    this.pendingBackward = null;
  }

  private loadInto(dir: string, weightsOnly = false) {
    const loaded = loadCheckpoint(dir, this.kernels);
    const optimizer = new AdamW(loaded.model);
    if (loaded.optimizer && !weightsOnly) {
      optimizer.m.set(loaded.optimizer.m);
      optimizer.v.set(loaded.optimizer.v);
      optimizer.step = loaded.optimizer.step;
    }
    return { model: loaded.model, optimizer, tokenizer: loaded.tokenizer };
  }

  /** Validates a batch and right-pads it into (B, T) arrays. */
  private pack(batch: readonly Datum[]): PackedBatch {
    if (batch.length === 0) throw new InvalidArgumentError('batch', 'is empty');
    const { vocabSize: V, maxSeqLen } = this.model.config;
    const lengths = batch.map((datum, i) => {
      const n = datum.inputTokens.length;
      if (n === 0) throw new InvalidArgumentError(`batch[${i}].inputTokens`, 'is empty');
      if (datum.targetTokens.length !== n) throw new InvalidArgumentError(`batch[${i}].targetTokens`, `has ${datum.targetTokens.length} tokens, inputTokens has ${n}; they must align`);
      if (datum.weights && datum.weights.length !== n) throw new InvalidArgumentError(`batch[${i}].weights`, `has ${datum.weights.length} values for ${n} tokens`);
      if (n > maxSeqLen) throw new InvalidArgumentError(`batch[${i}].inputTokens`, `has ${n} tokens, longer than maxSeqLen ${maxSeqLen} (model.maxSeqLen)`);
      return n;
    });
    const B = batch.length;
    const T = Math.max(...lengths);
    const tokens = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const weights = new Float32Array(B * T);
    batch.forEach((datum, b) => {
      for (let t = 0; t < lengths[b]; t++) {
        const input = datum.inputTokens[t];
        const target = datum.targetTokens[t];
        if (!Number.isInteger(input) || input < 0 || input >= V) throw new InvalidArgumentError(`batch[${b}].inputTokens[${t}]`, `token id ${input} is outside [0, ${V})`);
        if (!Number.isInteger(target) || target < 0 || target >= V) throw new InvalidArgumentError(`batch[${b}].targetTokens[${t}]`, `token id ${target} is outside [0, ${V})`);
        tokens[b * T + t] = input;
        targets[b * T + t] = target;
        const weight = datum.weights ? datum.weights[t] : 1;
        if (!Number.isFinite(weight)) throw new InvalidArgumentError(`batch[${b}].weights[${t}]`, `is ${weight}`);
        weights[b * T + t] = weight;
      }
    });
    return { B, T, lengths, tokens, targets, weights };
  }

  private unpack(packed: PackedBatch, values: Float32Array): Float32Array[] {
    return packed.lengths.map((n, b) => values.slice(b * packed.T, b * packed.T + n));
  }
}

/**
 * The batch with its weights divided by the number of scored (non-zero weight)
 * tokens, so that the built-in cross-entropy is a mean over them.
 */
export function meanOverTokens(batch: readonly Datum[]): Datum[] {
  const weightsOf = (d: Datum) => d.weights ?? new Array<number>(d.targetTokens.length).fill(1);
  const scored = batch.reduce((sum, d) => sum + Array.from(weightsOf(d)).filter((w) => w !== 0).length, 0);
  return batch.map((d) => ({ ...d, weights: Array.from(weightsOf(d), (w) => w / scored) }));
}

/** A datum for next-token training on `tokens`, scoring only positions from `promptLength` on. */
export function datumFromSequence(tokens: readonly number[], promptLength = 1, weight = 1): Datum {
  const inputTokens = tokens.slice(0, -1);
  const targetTokens = tokens.slice(1);
  const weights = targetTokens.map((_, t) => (t + 1 >= promptLength ? weight : 0));
  return { inputTokens, targetTokens, weights };
}
