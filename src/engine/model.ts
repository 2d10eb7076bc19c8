/**
 * The embedded model: a llama-style decoder, read top to bottom.
 *
 *   x = embed(tokens)                                   (B, T, C)
 *   for each block:
 *     x = x + Wo · attention(rope(Wqkv · rmsnorm(x)))    causal, H heads of size D (no rope with positionEncoding none)
 *     x = x + Wdown · (silu(Wgate · h) ⊙ (Wup · h)),  h = rmsnorm(x)
 *   logits = Whead · rmsnorm(x)                         (B, T, V)
 *
 * Conventions match Hugging Face transformers' LlamaForCausalLM (rotate-half
 * rotary positions, RMSNorm weight applied after normalization, no biases), so
 * a checkpoint of ours is a LlamaForCausalLM checkpoint.
 *
 * llm.c style: parameters, gradients and activations each live in one
 * contiguous Float32Array with named views; every layer is a pair of kernels
 * (forward/backward) from `Kernels`, native or TypeScript. The forward pass
 * saves what the backward pass needs; nothing is allocated per step unless the
 * batch shape grows.
 */
import type { Kernels } from './kernels.js';
import type { ModelConfig } from './config.js';
import { Rng } from './random.js';
import { InvalidArgumentError, InternalError } from '../errors.js';

/** Views of one block's parameters (or gradients) in the flat buffer. */
export interface BlockTensors {
  ln1: Float32Array; // (C) input_layernorm
  wqkv: Float32Array; // (3C, C) q_proj; k_proj; v_proj stacked
  wo: Float32Array; // (C, C) o_proj
  ln2: Float32Array; // (C) post_attention_layernorm
  wgu: Float32Array; // (2F, C) gate_proj; up_proj stacked
  wdown: Float32Array; // (C, F) down_proj
}

export interface ModelTensors {
  wte: Float32Array; // (V, C) embed_tokens
  blocks: BlockTensors[];
  lnf: Float32Array; // (C) final norm
  lmHead: Float32Array; // (V, C) lm_head, the same view as wte when tied
}

/** One named parameter tensor: its Hugging Face name, shape and view. */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  /** Matrices get weight decay; norm weights do not. */
  decay: boolean;
}

/** The parameter layout: offsets of every tensor in the flat buffer. */
function layout(config: ModelConfig) {
  const { vocabSize: V, dModel: C, ffnHidden: F, nLayers: L } = config;
  const entries: { key: string; size: number; shape: number[] }[] = [];
  entries.push({ key: 'wte', size: V * C, shape: [V, C] });
  for (let l = 0; l < L; l++) {
    entries.push({ key: `${l}.ln1`, size: C, shape: [C] });
    entries.push({ key: `${l}.wqkv`, size: 3 * C * C, shape: [3 * C, C] });
    entries.push({ key: `${l}.wo`, size: C * C, shape: [C, C] });
    entries.push({ key: `${l}.ln2`, size: C, shape: [C] });
    entries.push({ key: `${l}.wgu`, size: 2 * F * C, shape: [2 * F, C] });
    entries.push({ key: `${l}.wdown`, size: C * F, shape: [C, F] });
  }
  entries.push({ key: 'lnf', size: C, shape: [C] });
  if (!config.tieEmbeddings) entries.push({ key: 'lmHead', size: V * C, shape: [V, C] });
  let offset = 0;
  const offsets = new Map<string, { offset: number; size: number }>();
  for (const entry of entries) {
    offsets.set(entry.key, { offset, size: entry.size });
    offset += entry.size;
  }
  return { offsets, total: offset };
}

/** Named views over a flat buffer laid out by `layout`. */
function viewTensors(config: ModelConfig, buffer: Float32Array): ModelTensors {
  const { offsets } = layout(config);
  const view = (key: string) => {
    const { offset, size } = offsets.get(key)!;
    return buffer.subarray(offset, offset + size);
  };
  const blocks: BlockTensors[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    blocks.push({ ln1: view(`${l}.ln1`), wqkv: view(`${l}.wqkv`), wo: view(`${l}.wo`), ln2: view(`${l}.ln2`), wgu: view(`${l}.wgu`), wdown: view(`${l}.wdown`) });
  }
  const wte = view('wte');
  return { wte, blocks, lnf: view('lnf'), lmHead: config.tieEmbeddings ? wte : view('lmHead') };
}

/** Number of parameters of a config. */
export function parameterCount(config: ModelConfig): number {
  return layout(config).total;
}

/** Activations of one (B, T) forward pass, kept for the backward pass. */
class Activations {
  readonly B: number;
  readonly T: number;
  readonly positions: Int32Array; // (B*T) t of each row
  readonly residual: Float32Array[]; // L+1 × (B*T, C): input of each block, then the final stream
  readonly mid: Float32Array[]; // L × (B*T, C): stream after attention
  readonly ln1: Float32Array[]; // L × (B*T, C)
  readonly rstd1: Float32Array[]; // L × (B*T)
  readonly qkv: Float32Array[]; // L × (B*T, 3C), q and k roped
  readonly att: Float32Array[]; // L × (B, H, T, T)
  readonly attY: Float32Array[]; // L × (B*T, C)
  readonly ln2: Float32Array[]; // L × (B*T, C)
  readonly rstd2: Float32Array[]; // L × (B*T)
  readonly gateUp: Float32Array[]; // L × (B*T, 2F)
  readonly swiglu: Float32Array[]; // L × (B*T, F)
  readonly lnf: Float32Array; // (B*T, C)
  readonly rstdf: Float32Array; // (B*T)
  readonly probs: Float32Array; // (B*T, V) logits → probabilities → d(logits)
  readonly logprobs: Float32Array; // (B*T)
  readonly entropy: Float32Array; // (B*T)
  // backward scratch
  readonly dres: Float32Array; // (B*T, C)
  readonly dln: Float32Array; // (B*T, C)
  readonly dqkv: Float32Array; // (B*T, 3C)
  readonly dgateUp: Float32Array; // (B*T, 2F)
  readonly dswiglu: Float32Array; // (B*T, F)

  /** `take(size)` hands out the next `size` floats of the model's activation arena. */
  constructor(config: ModelConfig, B: number, T: number, take: (size: number) => Float32Array) {
    const { dModel: C, ffnHidden: F, nHeads: H, vocabSize: V, nLayers: L } = config;
    const N = B * T;
    this.B = B;
    this.T = T;
    this.positions = new Int32Array(N);
    for (let n = 0; n < N; n++) this.positions[n] = n % T;
    const perLayer = (size: number) => Array.from({ length: L }, () => take(size));
    this.residual = Array.from({ length: L + 1 }, () => take(N * C));
    this.mid = perLayer(N * C);
    this.ln1 = perLayer(N * C);
    this.rstd1 = perLayer(N);
    this.qkv = perLayer(N * 3 * C);
    this.att = perLayer(B * H * T * T);
    this.attY = perLayer(N * C);
    this.ln2 = perLayer(N * C);
    this.rstd2 = perLayer(N);
    this.gateUp = perLayer(N * 2 * F);
    this.swiglu = perLayer(N * F);
    this.lnf = take(N * C);
    this.rstdf = take(N);
    this.probs = take(N * V);
    this.logprobs = take(N);
    this.entropy = take(N);
    this.dres = take(N * C);
    this.dln = take(N * C);
    this.dqkv = take(N * 3 * C);
    this.dgateUp = take(N * 2 * F);
    this.dswiglu = take(N * F);
  }
}

/** Buffers of a cached (sampling) forward pass over R rows. */
class CachedActivations {
  readonly rows: number;
  readonly x: Float32Array; // (R, C) residual stream, updated in place
  readonly ln: Float32Array; // (R, C)
  readonly qkv: Float32Array; // (R, 3C)
  readonly attY: Float32Array; // (R, C)
  readonly gateUp: Float32Array; // (R, 2F)
  readonly swiglu: Float32Array; // (R, F)
  readonly rstd: Float32Array; // (R)
  readonly logits: Float32Array; // (R, V)

  constructor(config: ModelConfig, rows: number) {
    const { dModel: C, ffnHidden: F, vocabSize: V } = config;
    this.rows = rows;
    this.x = new Float32Array(rows * C);
    this.ln = new Float32Array(rows * C);
    this.qkv = new Float32Array(rows * 3 * C);
    this.attY = new Float32Array(rows * C);
    this.gateUp = new Float32Array(rows * 2 * F);
    this.swiglu = new Float32Array(rows * F);
    this.rstd = new Float32Array(rows);
    this.logits = new Float32Array(rows * V);
  }
}

/**
 * One Float32Array from which a structure of views is carved (llm.c keeps all
 * activations in one buffer). `build` measures the structure, grows the buffer
 * if needed, then hands out consecutive views; old contents are not cleared.
 */
class Arena {
  private buffer = new Float32Array(0);

  build<T>(make: (take: (size: number) => Float32Array) => T): T {
    let total = 0;
    const empty = new Float32Array(0);
    make((size) => {
      total += size;
      return empty;
    });
    if (this.buffer.length < total) {
      this.buffer = new Float32Array(0); // release the old buffer before allocating the new one
      this.buffer = new Float32Array(total);
    }
    let offset = 0;
    return make((size) => this.buffer.subarray(offset, (offset += size)));
  }
}

/** Keys and values of every layer for `slots` sequences of up to `maxT` positions, head-major. */
export class KVCache {
  readonly slots: number;
  readonly maxT: number;
  readonly keys: Float32Array[]; // L × (slots, H, maxT, D)
  readonly values: Float32Array[]; // L × (slots, H, maxT, D)
  private readonly H: number;
  private readonly D: number;

  /** Buffers come from `take`: the model's cache arena (Model.kvCache). */
  constructor(config: ModelConfig, slots: number, maxT: number, take: (size: number) => Float32Array) {
    this.slots = slots;
    this.maxT = maxT;
    this.H = config.nHeads;
    this.D = config.dModel / config.nHeads;
    this.keys = Array.from({ length: config.nLayers }, () => take(slots * maxT * config.dModel));
    this.values = Array.from({ length: config.nLayers }, () => take(slots * maxT * config.dModel));
  }

  /** Copies positions [0, length) of slot `from` into slot `to` (a prompt shared by n samples). */
  copySlot(from: number, to: number, length: number): void {
    const { H, D, maxT } = this;
    for (const cache of [...this.keys, ...this.values]) {
      for (let h = 0; h < H; h++) {
        const source = (from * H + h) * maxT * D;
        cache.copyWithin((to * H + h) * maxT * D, source, source + length * D);
      }
    }
  }
}

export class Model {
  readonly config: ModelConfig;
  readonly kernels: Kernels;
  /** All parameters, contiguous. */
  readonly params: Float32Array;
  /** Gradients, same layout; accumulated by backward() until zeroed. */
  readonly grads: Float32Array;
  readonly weights: ModelTensors;
  readonly gradients: ModelTensors;
  private readonly ropeCos: Float32Array; // (maxSeqLen, D/2), empty without rotary positions
  private readonly ropeSin: Float32Array; // (maxSeqLen, D/2)
  private acts: Activations | null = null;
  private readonly activationArena = new Arena();
  private readonly cacheArena = new Arena();
  private cachedActs: CachedActivations | null = null;
  private pending: { tokens: Int32Array; targets: Int32Array; acts: Activations; temperature: number } | null = null;

  constructor(config: ModelConfig, kernels: Kernels) {
    this.config = config;
    this.kernels = kernels;
    const total = parameterCount(config);
    this.params = new Float32Array(total);
    this.grads = new Float32Array(total);
    this.weights = viewTensors(config, this.params);
    this.gradients = viewTensors(config, this.grads);
    [this.ropeCos, this.ropeSin] = config.positionEncoding === 'rope' ? ropeTables(config) : [new Float32Array(0), new Float32Array(0)];
    this.initialize();
  }

  /** Normal(0, initStd) matrices, residual projections scaled by 1/√(2L), unit norm weights; seeded. */
  initialize(): void {
    const rng = new Rng(this.config.seed);
    const std = this.config.initStd;
    const fill = (tensor: Float32Array, scale: number) => {
      for (let i = 0; i < tensor.length; i++) tensor[i] = rng.normal() * scale;
    };
    const w = this.weights;
    fill(w.wte, std);
    const residualStd = std / Math.sqrt(2 * this.config.nLayers);
    for (const block of w.blocks) {
      block.ln1.fill(1);
      fill(block.wqkv, std);
      fill(block.wo, residualStd);
      block.ln2.fill(1);
      fill(block.wgu, std);
      fill(block.wdown, residualStd);
    }
    w.lnf.fill(1);
    if (!this.config.tieEmbeddings) fill(w.lmHead, std);
  }

  /** The parameters under their LlamaForCausalLM names (q/k/v and gate/up are views into the stacked matrices). */
  namedTensors(which: 'params' | 'grads' = 'params'): NamedTensor[] {
    const t = which === 'params' ? this.weights : this.gradients;
    const { dModel: C, ffnHidden: F, vocabSize: V } = this.config;
    const out: NamedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [V, C], data: t.wte, decay: true }];
    t.blocks.forEach((block, l) => {
      const p = `model.layers.${l}`;
      out.push(
        { name: `${p}.input_layernorm.weight`, shape: [C], data: block.ln1, decay: false },
        { name: `${p}.self_attn.q_proj.weight`, shape: [C, C], data: block.wqkv.subarray(0, C * C), decay: true },
        { name: `${p}.self_attn.k_proj.weight`, shape: [C, C], data: block.wqkv.subarray(C * C, 2 * C * C), decay: true },
        { name: `${p}.self_attn.v_proj.weight`, shape: [C, C], data: block.wqkv.subarray(2 * C * C), decay: true },
        { name: `${p}.self_attn.o_proj.weight`, shape: [C, C], data: block.wo, decay: true },
        { name: `${p}.post_attention_layernorm.weight`, shape: [C], data: block.ln2, decay: false },
        { name: `${p}.mlp.gate_proj.weight`, shape: [F, C], data: block.wgu.subarray(0, F * C), decay: true },
        { name: `${p}.mlp.up_proj.weight`, shape: [F, C], data: block.wgu.subarray(F * C), decay: true },
        { name: `${p}.mlp.down_proj.weight`, shape: [C, F], data: block.wdown, decay: true },
      );
    });
    out.push({ name: 'model.norm.weight', shape: [C], data: t.lnf, decay: false });
    if (!this.config.tieEmbeddings) out.push({ name: 'lm_head.weight', shape: [V, C], data: t.lmHead, decay: true });
    return out;
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  /**
   * Forward pass over a (B, T) batch: logprobs (B*T) of `targets` under the
   * next-token distribution at each position (and entropy (B*T) when asked).
   * Saves activations so that backward() can follow. Returned arrays are views
   * into engine buffers, valid until the next forward().
   */
  forward(tokens: Int32Array, targets: Int32Array, B: number, T: number, options: { entropy?: boolean; temperature?: number } = {}): { logprobs: Float32Array; entropy?: Float32Array } {
    const temperature = options.temperature ?? 1;
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new InvalidArgumentError('temperature', `is ${temperature}; logprobs need a positive, finite temperature (greedy decoding has none)`);
    const k = this.kernels;
    const rope = this.config.positionEncoding === 'rope';
    const { dModel: C, nHeads: H, ffnHidden: F, vocabSize: V, rmsNormEps: eps } = this.config;
    const N = B * T;
    checkShape(this.config, B, T);
    checkIds('tokens', tokens, N, V);
    checkIds('targets', targets, N, V);
    const a = this.activations(B, T);
    const w = this.weights;

    k.embeddingForward(a.residual[0], tokens, w.wte, N, C); // (N, C)
    for (let l = 0; l < this.config.nLayers; l++) {
      const block = w.blocks[l];
      k.rmsnormForward(a.ln1[l], a.rstd1[l], a.residual[l], block.ln1, N, C, eps); // (N, C)
      k.matmulForward(a.qkv[l], a.ln1[l], block.wqkv, N, C, 3 * C, false); // (N, 3C)
      if (rope) k.rope(a.qkv[l], a.positions, this.ropeCos, this.ropeSin, N, C, H, false);
      k.attentionForward(a.attY[l], a.att[l], a.qkv[l], B, T, C, H); // (N, C), att (B, H, T, T)
      a.mid[l].set(a.residual[l]);
      k.matmulForward(a.mid[l], a.attY[l], block.wo, N, C, C, true); // (N, C) residual + attention
      k.rmsnormForward(a.ln2[l], a.rstd2[l], a.mid[l], block.ln2, N, C, eps); // (N, C)
      k.matmulForward(a.gateUp[l], a.ln2[l], block.wgu, N, C, 2 * F, false); // (N, 2F)
      k.swigluForward(a.swiglu[l], a.gateUp[l], N, F); // (N, F)
      a.residual[l + 1].set(a.mid[l]);
      k.matmulForward(a.residual[l + 1], a.swiglu[l], block.wdown, N, F, C, true); // (N, C) residual + MLP
    }
    const final = a.residual[this.config.nLayers];
    k.rmsnormForward(a.lnf, a.rstdf, final, w.lnf, N, C, eps); // (N, C)
    k.matmulForward(a.probs, a.lnf, w.lmHead, N, C, V, false); // (N, V) logits
    if (temperature !== 1) scaleInPlace(a.probs, N * V, 1 / temperature); // (N, V) logits / temperature: the distribution a sampler at that temperature draws from
    k.logprobForward(a.probs, a.logprobs, options.entropy ? a.entropy : null, targets, N, V); // probs (N, V), logprobs (N)

    this.pending = { tokens, targets, acts: a, temperature };
    return { logprobs: a.logprobs, entropy: options.entropy ? a.entropy : undefined };
  }

  /** Next-token probabilities (B*T, V) of the last forward(); valid until backward() or the next forward(). */
  lastProbabilities(): Float32Array | null {
    return this.pending ? this.pending.acts.probs : null;
  }

  /**
   * Backward pass of the last forward(): given d(loss)/d(logprob) per token
   * (B*T), accumulates d(loss)/d(parameter) into `grads`.
   */
  backward(dlogprobs: Float32Array): void {
    if (!this.pending) throw new InternalError('backward() needs a forward() first (and runs once per forward)');
    const { tokens, targets, acts: a, temperature } = this.pending;
    if (dlogprobs.length !== a.B * a.T) throw new InvalidArgumentError('dlogprobs', `has ${dlogprobs.length} values for a (${a.B}, ${a.T}) batch`);
    this.pending = null;
    const k = this.kernels;
    const rope = this.config.positionEncoding === 'rope';
    const { dModel: C, nHeads: H, ffnHidden: F, vocabSize: V } = this.config;
    const { B, T } = a;
    const N = B * T;
    const w = this.weights;
    const g = this.gradients;

    k.logprobBackward(a.probs, dlogprobs, targets, N, V); // probs → d(logits / temperature) (N, V)
    if (temperature !== 1) scaleInPlace(a.probs, N * V, 1 / temperature); // → dlogits (N, V)
    k.matmulBackward(a.dln, g.lmHead, a.probs, a.lnf, w.lmHead, N, C, V, false); // dlnf (N, C)
    a.dres.fill(0);
    k.rmsnormBackward(a.dres, g.lnf, a.dln, a.residual[this.config.nLayers], w.lnf, a.rstdf, N, C); // dres (N, C)
    for (let l = this.config.nLayers - 1; l >= 0; l--) {
      const block = w.blocks[l];
      const grad = g.blocks[l];
      // MLP branch: residual[l+1] = mid + Wdown · swiglu
      k.matmulBackward(a.dswiglu, grad.wdown, a.dres, a.swiglu[l], block.wdown, N, F, C, false); // (N, F)
      k.swigluBackward(a.dgateUp, a.dswiglu, a.gateUp[l], N, F); // (N, 2F)
      k.matmulBackward(a.dln, grad.wgu, a.dgateUp, a.ln2[l], block.wgu, N, C, 2 * F, false); // (N, C)
      k.rmsnormBackward(a.dres, grad.ln2, a.dln, a.mid[l], block.ln2, a.rstd2[l], N, C); // dres = d(mid)
      // attention branch: mid = residual[l] + Wo · attY
      k.matmulBackward(a.dln, grad.wo, a.dres, a.attY[l], block.wo, N, C, C, false); // d(attY) (N, C)
      k.attentionBackward(a.dqkv, a.dln, a.qkv[l], a.att[l], B, T, C, H); // (N, 3C)
      if (rope) k.rope(a.dqkv, a.positions, this.ropeCos, this.ropeSin, N, C, H, true);
      k.matmulBackward(a.dln, grad.wqkv, a.dqkv, a.ln1[l], block.wqkv, N, C, 3 * C, false); // d(ln1) (N, C)
      k.rmsnormBackward(a.dres, grad.ln1, a.dln, a.residual[l], block.ln1, a.rstd1[l], N, C); // dres = d(residual[l])
    }
    k.embeddingBackward(g.wte, a.dres, tokens, N, C);
  }

  /**
   * Sampling forward pass with a KV cache: row r is token `tokens[r]` at
   * position `positions[r]` of the sequence in cache slot `slots[r]`. Rows of
   * one slot must come in position order. Returns logits (R, V), a view valid
   * until the next call.
   */
  forwardCached(cache: KVCache, tokens: Int32Array, slots: Int32Array, positions: Int32Array): Float32Array {
    const k = this.kernels;
    const rope = this.config.positionEncoding === 'rope';
    const { dModel: C, nHeads: H, ffnHidden: F, vocabSize: V, rmsNormEps: eps } = this.config;
    const R = tokens.length;
    checkIds('tokens', tokens, R, V);
    checkIds('slots', slots, R, cache.slots);
    checkIds('positions', positions, R, Math.min(cache.maxT, this.config.maxSeqLen));
    if (cache.keys.length !== this.config.nLayers || cache.keys[0].length !== cache.slots * cache.maxT * C) throw new InvalidArgumentError('cache', 'was not made for this model (use model.kvCache)');
    if (!this.cachedActs || this.cachedActs.rows < R) this.cachedActs = new CachedActivations(this.config, Math.max(R, 64));
    const full = this.cachedActs;
    const x = full.x.subarray(0, R * C); // (R, C)
    const ln = full.ln.subarray(0, R * C); // (R, C)
    const qkv = full.qkv.subarray(0, R * 3 * C); // (R, 3C)
    const attY = full.attY.subarray(0, R * C); // (R, C)
    const gateUp = full.gateUp.subarray(0, R * 2 * F); // (R, 2F)
    const swiglu = full.swiglu.subarray(0, R * F); // (R, F)
    const logits = full.logits.subarray(0, R * V); // (R, V)
    const w = this.weights;

    k.embeddingForward(x, tokens, w.wte, R, C);
    for (let l = 0; l < this.config.nLayers; l++) {
      const block = w.blocks[l];
      k.rmsnormForward(ln, full.rstd, x, block.ln1, R, C, eps);
      k.matmulForward(qkv, ln, block.wqkv, R, C, 3 * C, false);
      if (rope) k.rope(qkv, positions, this.ropeCos, this.ropeSin, R, C, H, false);
      k.attentionCached(attY, qkv, cache.keys[l], cache.values[l], slots, positions, R, C, H, cache.maxT);
      k.matmulForward(x, attY, block.wo, R, C, C, true);
      k.rmsnormForward(ln, full.rstd, x, block.ln2, R, C, eps);
      k.matmulForward(gateUp, ln, block.wgu, R, C, 2 * F, false);
      k.swigluForward(swiglu, gateUp, R, F);
      k.matmulForward(x, swiglu, block.wdown, R, F, C, true);
    }
    k.rmsnormForward(ln, full.rstd, x, w.lnf, R, C, eps);
    k.matmulForward(logits, ln, w.lmHead, R, C, V, false);
    return logits;
  }

  /** Activations for a (B, T) batch, carved from one arena that only grows: no allocation once it is big enough. */
  private activations(B: number, T: number): Activations {
    if (!this.acts || this.acts.B !== B || this.acts.T !== T) {
      this.acts = null;
      this.acts = this.activationArena.build((take) => new Activations(this.config, B, T, take));
    }
    return this.acts;
  }

  /** A KV cache for `slots` sequences of up to `maxT` positions, reusing the memory of the previous one. */
  kvCache(slots: number, maxT: number): KVCache {
    return this.cacheArena.build((take) => new KVCache(this.config, slots, maxT, take));
  }
}

function checkShape(config: ModelConfig, B: number, T: number): void {
  if (!Number.isInteger(B) || B < 1) throw new InvalidArgumentError('B', `must be a positive integer, got ${B}`);
  if (!Number.isInteger(T) || T < 1 || T > config.maxSeqLen) throw new InvalidArgumentError('T', `must be in [1, maxSeqLen = ${config.maxSeqLen}], got ${T}`);
}

/** `ids` holds at least n integers, each in [0, bound). */
function checkIds(name: string, ids: Int32Array, n: number, bound: number): void {
  if (!(ids instanceof Int32Array) || ids.length < n) throw new InvalidArgumentError(name, `must be an Int32Array of ${n} ids`);
  for (let i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= bound) throw new InvalidArgumentError(`${name}[${i}]`, `${ids[i]} is outside [0, ${bound})`);
  }
}

/**
 * cos/sin tables (maxSeqLen, D/2) computed as transformers does in float32:
 * inv_freq_i = 1 / θ^(2i/D), angle = position · inv_freq_i.
 */
function ropeTables(config: ModelConfig): [Float32Array, Float32Array] {
  const D = config.dModel / config.nHeads;
  const half = D / 2;
  const cos = new Float32Array(config.maxSeqLen * half);
  const sin = new Float32Array(config.maxSeqLen * half);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / D)));
    for (let t = 0; t < config.maxSeqLen; t++) {
      const angle = Math.fround(t * invFreq);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return [cos, sin];
}

/** x[0..n) *= factor. */
function scaleInPlace(x: Float32Array, n: number, factor: number): void {
  for (let i = 0; i < n; i++) x[i] *= factor;
}
