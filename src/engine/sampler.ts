import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { InvalidArgumentError } from '../errors.js';
import type { Completion, TokenLogprob } from '../spec/policy.js';
import type { Model } from './model.js';
import { Rng } from './random.js';
import type { Tokenizer } from './tokenizer.js';
import { logSoftmaxAndEntropy, logSoftmaxAt, pickToken, sampleAtTemperatureOne, topTokens } from './draw.js';

/** Sampling settings (OpenAI/vLLM names in camelCase). */
export const SampleOptionsSchema = z
  .object({
    /** Completions per prompt. */
    n: z.number().int().positive().default(1),
    /** Softmax temperature; 0 is greedy decoding. */
    temperature: z.number().nonnegative().default(1),
    /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP. */
    topP: z.number().gt(0).max(1).default(1),
    /** New tokens per completion at most (also capped by the model's maxSeqLen). */
    maxTokens: z.number().int().positive().default(64),
    /** Strings that end a completion; they are not part of the returned text or tokens. */
    stop: z.array(z.string().min(1)).default([]),
    /** Token ids that end a completion; they are kept in `tokens` (the model must learn to emit them) but not in `text`. Default: the tokenizer's EOS. */
    stopTokenIds: z.array(z.number().int().nonnegative()).optional(),
    /** Seed: the same seed, prompts and weights give the same samples. */
    seed: z.number().int().default(0),
    /** Also return the entropy of each next-token distribution (temperature 1), e.g. as a policy-gradient metric. */
    entropy: z.boolean().default(false),
  })
  .strict();

export type SampleOptions = z.input<typeof SampleOptionsSchema>;

/**
 * One prompt with its own sampling settings, for batching requests that differ
 * (a server's concurrent requests). Sample j draws from the random stream
 * (options.seed, stream, j), so a request gives the same samples whatever it is
 * batched with.
 */
export interface SampleRequest {
  /** Prompt token ids (BOS included when wanted). */
  prompt: readonly number[];
  options?: SampleOptions & {
    /** Also return the k most likely tokens and their logprobs at each position (0–20). */
    topLogprobs?: number;
  };
  /** Index of the random stream (default 0). */
  stream?: number;
}

/**
 * Called once per decoding step with the token each still-running sequence just
 * drew (`request`, `index` = its sample number). `done` marks a sequence's last
 * draw: a stop string it completed may cut tokens already reported, so what
 * stays is in the final result.
 */
export type TokenListener = (step: { request: number; index: number; token: number; logprob: number; top?: TokenLogprob[]; done?: true }[]) => void;

/**
 * Batched, KV-cached decoding. Each prompt is prefilled once and its cache is
 * shared by its n samples; then all unfinished sequences advance one token per
 * step in one batched forward. Sample j of prompt i draws from the random
 * stream (seed, i, j), so it does not depend on what the other prompts are or
 * on when other sequences finish.
 * Returns completions grouped per prompt: result[i][j].
 */
export function sampleSequences(model: Model, tokenizer: Tokenizer, prompts: number[][], input: SampleOptions = {}): Completion[][] {
  const options = parseConfig(SampleOptionsSchema, input, 'sample');
  return sampleRequests(model, tokenizer, prompts.map((prompt, i) => ({ prompt, options, stream: i })));
}

const TopLogprobsSchema = z.number().int().min(0).max(20).default(0);

/**
 * Batched, KV-cached decoding of requests that each have their own settings
 * (n, temperature, top-p, stop, max tokens, seed). result[r][j] is sample j of
 * request r. `onStep` sees every drawn token as it is drawn (before stop
 * strings are cut), for streaming.
 */
export function sampleRequests(model: Model, tokenizer: Tokenizer, requests: readonly SampleRequest[], onStep?: TokenListener): Completion[][] {
  if (requests.length === 0) return [];
  const { vocabSize: V, maxSeqLen } = model.config;
  const settings = requests.map((request, i) => {
    const { topLogprobs, ...rest } = request.options ?? {};
    const options = parseConfig(SampleOptionsSchema, rest, requests.length === 1 ? 'sample' : `requests[${i}].options`);
    const top = parseConfig(z.object({ topLogprobs: TopLogprobsSchema }), { topLogprobs }, `requests[${i}].options`).topLogprobs;
    const prompt = request.prompt;
    if (prompt.length === 0) throw new InvalidArgumentError(`prompts[${i}]`, 'is empty; start it with a BOS token at least');
    if (prompt.length >= maxSeqLen) throw new InvalidArgumentError(`prompts[${i}]`, `has ${prompt.length} tokens; maxSeqLen is ${maxSeqLen}, leaving no room to generate (raise model.maxSeqLen)`);
    prompt.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new InvalidArgumentError(`prompts[${i}][${t}]`, `token id ${id} is outside [0, ${V})`);
    });
    return {
      ...options,
      topLogprobs: top,
      stopIds: new Set(options.stopTokenIds ?? [tokenizer.eosId]),
      stopBytes: options.stop.map((text) => new TextEncoder().encode(text)),
      maxLength: Math.min(maxSeqLen, prompt.length + options.maxTokens),
    };
  });
  const offsets: number[] = [];
  let total = 0;
  for (const s of settings) {
    offsets.push(total);
    total += s.n;
  }
  const maxT = Math.max(...settings.map((s) => s.maxLength));
  const cache = model.kvCache(total, maxT);

  // Prefill: every prompt once, into the first slot of its group.
  const rows = requests.reduce((sum, r) => sum + r.prompt.length, 0);
  const tokens = new Int32Array(rows);
  const slots = new Int32Array(rows);
  const positions = new Int32Array(rows);
  let r = 0;
  requests.forEach((request, i) => {
    request.prompt.forEach((id, t) => {
      tokens[r] = id;
      slots[r] = offsets[i];
      positions[r] = t;
      r++;
    });
  });
  const prefillLogits = model.forwardCached(cache, tokens, slots, positions); // (rows, V)

  const sequences = settings.flatMap((setting, i) =>
    Array.from({ length: setting.n }, (_, j) => ({
      request: i,
      index: j,
      setting,
      promptLength: requests[i].prompt.length,
      rng: new Rng(setting.seed, requests[i].stream ?? 0, j),
      tokens: [] as number[],
      logprobs: [] as number[],
      behaviourLogprobs: [] as number[],
      entropy: [] as number[],
      top: [] as TokenLogprob[][],
      bytes: [] as number[],
      tokenEnds: [] as number[], // byte length after each token
      finishReason: null as 'stop' | 'length' | null,
      stoppedByToken: false,
    })),
  );
  const nextLogits = new Float32Array(total * V); // (total, V) logits each sequence samples from next
  let end = 0;
  requests.forEach((request, i) => {
    end += request.prompt.length;
    const last = prefillLogits.subarray((end - 1) * V, end * V);
    for (let j = 0; j < settings[i].n; j++) {
      nextLogits.set(last, (offsets[i] + j) * V);
      if (j > 0) cache.copySlot(offsets[i], offsets[i] + j, request.prompt.length);
    }
  });

  const scratch = { probs: new Float64Array(V), order: new Int32Array(V) };
  let active = Array.from({ length: total }, (_, s) => s);
  while (active.length > 0) {
    // Sample one token for every active sequence, then advance the unfinished ones together.
    const next: number[] = [];
    const drawn: Parameters<TokenListener>[0] = [];
    for (const s of active) {
      const seq = sequences[s];
      const options = seq.setting;
      const logits = nextLogits.subarray(s * V, (s + 1) * V);
      let id: number;
      if (options.temperature === 1 && options.topP === 1) {
        // Plain sampling: one pass of exponentials serves the draw, the logprob and the entropy; the behaviour distribution is the policy's.
        const draw = sampleAtTemperatureOne(logits, seq.rng, scratch.probs);
        id = draw.id;
        seq.logprobs.push(draw.logprob);
        seq.behaviourLogprobs.push(draw.logprob);
        if (options.entropy) seq.entropy.push(draw.entropy);
      } else {
        const pick = pickToken(logits, options.temperature, options.topP, seq.rng, scratch);
        id = pick.id;
        seq.behaviourLogprobs.push(pick.logprob);
        if (options.entropy) {
          const { logprob, entropy } = logSoftmaxAndEntropy(logits, id);
          seq.logprobs.push(logprob);
          seq.entropy.push(entropy);
        } else seq.logprobs.push(logSoftmaxAt(logits, id));
      }
      if (options.topLogprobs > 0) seq.top.push(topTokens(logits, options.topLogprobs));
      const event = onStep ? { request: seq.request, index: seq.index, token: id, logprob: seq.logprobs[seq.logprobs.length - 1], ...(options.topLogprobs > 0 ? { top: seq.top[seq.top.length - 1] } : {}) } : null;
      const end = appendToken(seq, id, tokenizer, seq.promptLength, options);
      if (end) [seq.finishReason, seq.stoppedByToken] = [end.reason, end.byToken];
      else next.push(s);
      if (event) drawn.push(seq.finishReason ? { ...event, done: true } : event);
    }
    if (onStep) onStep(drawn);
    active = next;
    if (active.length === 0) break;
    const stepTokens = new Int32Array(active.length);
    const stepSlots = new Int32Array(active.length);
    const stepPositions = new Int32Array(active.length);
    active.forEach((s, row) => {
      const seq = sequences[s];
      stepTokens[row] = seq.tokens[seq.tokens.length - 1];
      stepSlots[row] = s;
      stepPositions[row] = seq.promptLength + seq.tokens.length - 1;
    });
    const logits = model.forwardCached(cache, stepTokens, stepSlots, stepPositions); // (active, V)
    active.forEach((s, row) => nextLogits.set(logits.subarray(row * V, (row + 1) * V), s * V));
  }

  const grouped: Completion[][] = requests.map(() => []);
  for (const seq of sequences) {
    // A stop token stays in `tokens` (the model must learn to emit it) but is not part of the text.
    const textTokens = seq.stoppedByToken ? seq.tokens.slice(0, -1) : seq.tokens;
    const kept = seq.tokens.length;
    grouped[seq.request].push({
      tokens: seq.tokens,
      logprobs: seq.logprobs,
      behaviourLogprobs: seq.behaviourLogprobs.slice(0, kept),
      ...(seq.setting.entropy ? { entropy: seq.entropy.slice(0, kept) } : {}),
      ...(seq.setting.topLogprobs > 0 ? { topLogprobs: seq.top.slice(0, kept) } : {}),
      text: tokenizer.decode(textTokens),
      finishReason: seq.finishReason ?? 'length',
    });
  }
  return grouped;
}

/** What ends a completion. */
export interface StopRules {
  /** Token ids that end it; they stay in `tokens`. */
  stopIds: ReadonlySet<number>;
  /** Stop strings (UTF-8); they are cut from the completion. */
  stopBytes: readonly Uint8Array[];
  /** New tokens at most. */
  maxTokens: number;
  /** Prompt + completion tokens at most. */
  maxLength: number;
}

/**
 * Appends a drawn token (its logprob already pushed) to a sequence being
 * decoded and applies the stop rules: a stop id ends it, a stop string the
 * token completes cuts it back to before the string, and maxTokens /
 * maxLength end it by length. Returns why it ended, or null to go on. The
 * engine's sampler and the llama.cpp policy share this rule.
 */
export function appendToken(seq: { tokens: number[]; logprobs: number[]; bytes: number[]; tokenEnds: number[] }, id: number, tokenizer: Tokenizer, promptLength: number, rules: StopRules): { reason: 'stop' | 'length'; byToken: boolean } | null {
  seq.tokens.push(id);
  for (const byte of tokenizer.tokenBytes(id)) seq.bytes.push(byte);
  seq.tokenEnds.push(seq.bytes.length);
  if (rules.stopIds.has(id)) return { reason: 'stop', byToken: true };
  if (truncateAtStop(seq, rules.stopBytes)) return { reason: 'stop', byToken: false };
  if (seq.tokens.length >= rules.maxTokens || promptLength + seq.tokens.length >= rules.maxLength) return { reason: 'length', byToken: false };
  return null;
}

/** If the completion's bytes now contain a stop string, cut tokens back to before it and report true. */
function truncateAtStop(seq: { tokens: number[]; logprobs: number[]; bytes: number[]; tokenEnds: number[] }, stops: readonly Uint8Array[]): boolean {
  const previousEnd = seq.tokenEnds.length > 1 ? seq.tokenEnds[seq.tokenEnds.length - 2] : 0;
  for (const stop of stops) {
    // Only matches that end inside the newest token's bytes are new.
    const from = Math.max(0, previousEnd - stop.length + 1);
    for (let at = from; at + stop.length <= seq.bytes.length; at++) {
      let match = true;
      for (let i = 0; i < stop.length && match; i++) match = seq.bytes[at + i] === stop[i];
      if (!match) continue;
      let keep = 0;
      while (keep < seq.tokenEnds.length && seq.tokenEnds[keep] <= at) keep++;
      seq.tokens.length = keep;
      seq.logprobs.length = keep;
      seq.tokenEnds.length = keep;
      seq.bytes.length = keep > 0 ? seq.tokenEnds[keep - 1] : 0;
      return true;
    }
  }
  return false;
}
