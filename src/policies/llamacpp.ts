import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
// Types only: node-llama-cpp (≈ 0.5 s to import) is loaded by create(), so importing this module stays cheap.
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { appendToken, SampleOptionsSchema, type SampleOptions, type StopRules } from '../engine/sampler.js';
import { drawWithLogprob } from '../engine/draw.js';
import { Rng } from '../engine/random.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { AutodidactError, InvalidArgumentError } from '../errors.js';
import { byteVocabulary, exportGguf } from '../export/gguf.js';
import { GgufFormatError, readGgufHeader } from '../export/gguf-format.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';

/**
 * A policy that samples through llama.cpp (node-llama-cpp) from a checkpoint of
 * ours: the checkpoint is exported to a temporary GGUF (src/export/gguf.ts) and
 * loaded on the CPU; `reload(dir)` follows training.
 *
 * llama.cpp runs the forward pass; the draw is ours. Each step asks llama.cpp
 * for the full next-token distribution (temperature 1, no truncation) and draws
 * from it with the engine sampler's rule (temperature, top-p, the random stream
 * (seed, prompt i, sample j)), so
 *   - the same seed and weights give the same samples (bit for bit with `parallel` 1);
 *   - `logprobs` are log p(token) at temperature 1, as the engine reports them;
 *   - stop strings, stop at EOS, `maxTokens` and the maxSeqLen cap behave as in
 *     the engine's sampler (stop strings cut on bytes; EOS kept in `tokens`).
 * The KV cache is F32 (llama.cpp's default F16 moves logprobs by ≈ 1e-2; see
 * test/export/gguf.test.ts). Text is tokenized with ByteTokenizer, which the
 * exported vocabulary reproduces id for id; a .gguf source must carry that
 * vocabulary (one exported by exportGguf).
 */
export const LlamaCppPolicyConfigSchema = z
  .object({
    /** A checkpoint directory (exported to a temporary GGUF) or a .gguf file written by exportGguf. */
    source: z.string().min(1),
    /** The policy's version label; default: the source's base name. */
    version: z.string().min(1).optional(),
    /** CPU threads of llama.cpp. 1 on a 2-core machine: with 2, ggml's spinning threads fight Node's main thread (≈ 30× slower). */
    threads: z.number().int().positive().default(1),
    /**
     * Completions decoded together (llama.cpp sequences batched into one decode per step).
     * 1 makes samples bit-for-bit reproducible. With more, which sequences share a
     * decode depends on timing and ggml's batched kernels round differently, so
     * logprobs move by ≈ 1e-6 between runs (tokens only when a draw lands that
     * close to a boundary); faster when many completions are wanted.
     */
    parallel: z.number().int().positive().default(1),
    /** KV cache precision: F32 matches the engine's numerics; F16 is llama.cpp's default. */
    kvCache: z.enum(['F32', 'F16']).default('F32'),
  })
  .strict();

export type LlamaCppPolicyConfig = z.input<typeof LlamaCppPolicyConfigSchema>;

/** A loaded GGUF: the model, a context with `parallel` sequences, and where it came from. */
interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  /** The context's `parallel` sequences, reused (history cleared) by every sample. */
  sequences: LlamaContextSequence[];
  /** Longest prompt + completion (the model's context_length, as the engine's maxSeqLen). */
  maxSeqLen: number;
  vocabSize: number;
  /** Temporary directory of an exported GGUF, removed on unload. */
  temporary: string | null;
}

/** Full distribution at temperature 1: no top-k, top-p or min-p truncation by llama.cpp. */
const WHOLE_DISTRIBUTION = { temperature: 1, topK: 0, topP: 1, minP: 0 };

export class LlamaCppPolicy implements Policy {
  /** @inheritdoc */
  readonly name = 'llamacpp';
  private currentVersion: string;
  private loaded: Loaded;
  private readonly tokenizer = new ByteTokenizer();
  /** Calls run one at a time, in order (a reload never swaps the model under a running sample). */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly llama: Llama,
    private readonly config: z.output<typeof LlamaCppPolicyConfigSchema>,
    loaded: Loaded,
    version: string,
  ) {
    this.loaded = loaded;
    this.currentVersion = version;
  }

  /** Loads llama.cpp's prebuilt CPU binary and the source (a checkpoint directory or a .gguf file). */
  static async create(input: LlamaCppPolicyConfig): Promise<LlamaCppPolicy> {
    const config = parseConfig(LlamaCppPolicyConfigSchema, input, 'llamacpp');
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    try {
      const loaded = await load(llama, config.source, config);
      return new LlamaCppPolicy(llama, config, loaded, config.version ?? basename(config.source));
    } catch (error) {
      await llama.dispose();
      throw error;
    }
  }

  /** Identifies the weights: the configured label, or the base name of the last source loaded. */
  get version(): string {
    return this.currentVersion;
  }

  /** Replaces the weights with those of a checkpoint directory (or .gguf file); later samples use them. */
  reload(source: string, version?: string): Promise<void> {
    return this.enqueue(async () => {
      const next = await load(this.llama, source, this.config);
      const previous = this.loaded;
      this.loaded = next;
      this.currentVersion = version ?? basename(source);
      await unload(previous);
    });
  }

  /** Policy.sample; also honours the engine sampler's `stopTokenIds` (default: EOS). */
  async sample(prompts: readonly string[], input: SamplingOptions & Pick<SampleOptions, 'stopTokenIds'>): Promise<Completion[][]> {
    const options = parseConfig(SampleOptionsSchema, input, 'sample');
    const { maxSeqLen } = this.loaded;
    const encoded = prompts.map((prompt, i) => {
      const ids = this.tokenizer.encode(prompt, { addBos: true });
      if (ids.length >= maxSeqLen) throw new InvalidArgumentError(`prompts[${i}]`, `has ${ids.length} tokens; the model's context_length is ${maxSeqLen}, leaving no room to generate (shorten the prompt)`);
      return ids;
    });
    return this.enqueue(async () => {
      const jobs = encoded.flatMap((ids, i) => Array.from({ length: options.n }, (_, j) => ({ i, j, ids })));
      const results: Completion[][] = prompts.map(() => []);
      let next = 0;
      await Promise.all(
        this.loaded.sequences.slice(0, jobs.length).map(async (sequence) => {
          while (next < jobs.length) {
            const job = jobs[next++];
            await sequence.clearHistory();
            results[job.i][job.j] = await this.complete(sequence, job.ids, new Rng(options.seed, job.i, job.j), options);
          }
        }),
      );
      return results;
    });
  }

  /** Frees llama.cpp's memory and the temporary GGUF. Later calls are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => {});
    await unload(this.loaded);
    await this.llama.dispose();
  }

  /** Decodes one completion on `sequence` (empty history), drawing with `rng`. */
  private async complete(sequence: LlamaContextSequence, prompt: number[], rng: Rng, options: z.output<typeof SampleOptionsSchema>): Promise<Completion> {
    const { vocabSize, maxSeqLen } = this.loaded;
    const rules: StopRules = { stopIds: new Set(options.stopTokenIds ?? [this.tokenizer.eosId]), stopBytes: options.stop.map((text) => new TextEncoder().encode(text)), maxTokens: options.maxTokens, maxLength: maxSeqLen };
    const state = { tokens: [] as number[], logprobs: [] as number[], behaviourLogprobs: [] as number[], entropy: [] as number[], bytes: [] as number[], tokenEnds: [] as number[] };
    const probabilities = new Float64Array(vocabSize);
    const scratch = { weights: new Float64Array(vocabSize), order: new Int32Array(vocabSize) };
    const generate = { generateNext: { probabilities: true, options: WHOLE_DISTRIBUTION } };
    let input = prompt.map((id, t) => (t === prompt.length - 1 ? ([id as Token, generate] as const) : (id as Token)));
    let finishReason: Completion['finishReason'] = 'length';
    let stoppedByToken = false;
    for (;;) {
      const out = await sequence.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
      const distribution = out[input.length - 1]?.next.probabilities;
      if (!distribution) throw new AutodidactError('node-llama-cpp returned no next-token probabilities');
      probabilities.fill(0);
      for (const [token, p] of distribution) probabilities[token as number] = p;
      const { id, logprob } = drawToken(probabilities, options.temperature, options.topP, rng, scratch);
      state.logprobs.push(Math.log(probabilities[id]));
      state.behaviourLogprobs.push(logprob);
      if (options.entropy) state.entropy.push(entropyOf(probabilities));
      const end = appendToken(state, id, this.tokenizer, prompt.length, rules);
      if (end) {
        [finishReason, stoppedByToken] = [end.reason, end.byToken];
        break;
      }
      input = [[id as Token, generate] as const];
    }
    const kept = state.tokens.length;
    return {
      text: this.tokenizer.decode(stoppedByToken ? state.tokens.slice(0, -1) : state.tokens),
      tokens: state.tokens,
      logprobs: state.logprobs,
      behaviourLogprobs: state.behaviourLogprobs.slice(0, kept),
      ...(options.entropy ? { entropy: state.entropy.slice(0, kept) } : {}),
      finishReason,
    };
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new AutodidactError('the llamacpp policy is closed'));
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** Loads a checkpoint directory (exported to a temporary GGUF first) or a .gguf file with our byte vocabulary. */
async function load(llama: Llama, source: string, config: z.output<typeof LlamaCppPolicyConfigSchema>): Promise<Loaded> {
  if (!existsSync(source)) throw new InvalidArgumentError('source', `${source} does not exist; pass a checkpoint directory or a .gguf file`);
  let temporary: string | null = null;
  let path = source;
  if (statSync(source).isDirectory()) {
    temporary = mkdtempSync(join(tmpdir(), 'autodidact-llamacpp-'));
    path = join(temporary, 'model.gguf');
  }
  try {
    if (temporary) exportGguf(source, path);
    const header = readGgufHeader(path);
    const tokens = header.metadata.get('tokenizer.ggml.tokens')?.value as string[] | undefined;
    const maxSeqLen = Number(header.metadata.get('llama.context_length')?.value);
    const expected = tokens ? byteVocabulary(new ByteTokenizer(), tokens.length).tokens : [];
    if (!tokens || tokens.some((token, id) => token !== expected[id])) throw new GgufFormatError(path, 'its vocabulary is not the byte vocabulary exportGguf writes; the llamacpp policy samples GGUFs exported from autodidact checkpoints');
    if (!(maxSeqLen > 0)) throw new GgufFormatError(path, 'has no llama.context_length');
    const model = await llama.loadModel({ modelPath: path });
    try {
      const context = await model.createContext({
        contextSize: maxSeqLen,
        sequences: config.parallel,
        threads: config.threads,
        flashAttention: false,
        experimentalKvCacheKeyType: config.kvCache,
        experimentalKvCacheValueType: config.kvCache,
      });
      const sequences = Array.from({ length: config.parallel }, () => context.getSequence());
      return { model, context, sequences, maxSeqLen, vocabSize: tokens.length, temporary };
    } catch (error) {
      await model.dispose();
      throw error;
    }
  } catch (error) {
    if (temporary) rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}

async function unload(loaded: Loaded): Promise<void> {
  await loaded.context.dispose();
  await loaded.model.dispose();
  if (loaded.temporary) rmSync(loaded.temporary, { recursive: true, force: true });
}

/**
 * Draws a token from probabilities p (temperature 1) with the engine sampler's
 * rule: greedy at temperature 0 (ties to the lower id), else p^(1/T) (=
 * softmax(logits/T)) restricted to the top-p nucleus, walked in id order (or in
 * decreasing probability under top-p) with one uniform draw. Returns the
 * token and its log-probability under the distribution drawn from (0 greedy).
 */
function drawToken(p: Float64Array, temperature: number, topP: number, rng: Rng, scratch: { weights: Float64Array; order: Int32Array }): { id: number; logprob: number } {
  const V = p.length;
  if (temperature === 0) {
    let best = 0;
    for (let v = 1; v < V; v++) if (p[v] > p[best]) best = v;
    return { id: best, logprob: 0 };
  }
  const { weights, order } = scratch;
  for (let v = 0; v < V; v++) weights[v] = temperature === 1 ? p[v] : Math.pow(p[v], 1 / temperature);
  return drawWithLogprob(weights, topP, rng, order);
}

/** −Σ p log p (nats). */
function entropyOf(p: Float64Array): number {
  let entropy = 0;
  for (let v = 0; v < p.length; v++) if (p[v] > 0) entropy -= p[v] * Math.log(p[v]);
  return entropy;
}

