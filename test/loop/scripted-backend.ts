/**
 * A scripted TrainingBackend for digests of whole runs: deterministic and
 * machine-independent (integer hashing and plain JS arithmetic only, no
 * kernels), generic across task families, yet behaving enough like a model
 * that verifiers pass some attempts and fail others, so acceptance,
 * reflection, advantages and curricula all act.
 *
 * - Tasks: a TaskOracle wraps the run's task source and remembers every task
 *   drawn (held-out, labeled, round tasks) by prompt. A sampled prompt that is
 *   a task's prompt, or ends with one (reflection and hint prompts embed it
 *   last), is answered from the task: its worked solution, a corrupted copy,
 *   a truncated one, one that never ends, or hash text, chosen by a hash of
 *   (prompt, seed, position in the call, sample index, weights, temperature);
 *   the share of right answers grows with the optimizer steps behind the
 *   weights, falls with the task's difficulty, varies from task to task and
 *   is higher for refinement prompts. Any other
 *   prompt (self-play proposals and solves, judge prompts) gets one of a few
 *   plausible shapes: a digit, a small expression in x, a comma list, a piece
 *   of the prompt, YES, NO, or hash text.
 * - Weights: a hash chained over everything trained on (each optimizer step's
 *   datums, gradients and AdamW settings), saved to and loaded from checkpoint
 *   directories; `weightsOnly` loads reset the optimizer's step count.
 * - Logprobs: log p(token | previous token) is a hash of (weights, previous
 *   token, token) mapped to [−4, −0.001], the same in `sample` and `forward`,
 *   so importance ratios start at 1 and a reference with other weights has a
 *   KL to the policy. Entropies are hashed the same way.
 * - Sampling honours n, maxTokens, stop strings and stop token ids (EOS by
 *   default) through the engine's own stop rule (appendToken).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendToken } from '../../src/engine/sampler.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import type { Completion } from '../../src/spec/policy.js';
import type { Task } from '../../src/spec/task.js';
import type { TaskSource } from '../../src/spec/task-source.js';
import type { AdamParams, BackendSampleOptions, Datum, ForwardBackwardResult, ForwardOptions, ForwardResult, Loss, OptimStepResult, TrainingBackend } from '../../src/spec/training-backend.js';

const tokenizer = new ByteTokenizer();

/** The file a scripted checkpoint directory holds. */
export const SCRIPTED_WEIGHTS_FILE = 'scripted-weights.json';

/** A 32-bit hash of a string (the first 4 bytes of its sha256). */
export function hash32(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0);
}

/** Mixes 32-bit integers (murmur3's finalizer over a running xor-multiply): plain integer arithmetic, the same on every machine. */
function mix(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** log p(token | previous) under weights `w`, in [−4, −0.001]. */
export function scriptedLogprob(w: number, previous: number, token: number): number {
  return -((mix(w, previous, token) % 4000) + 1) / 1000;
}

/** Entropy (nats) of the next-token distribution after `previous`, in [0, 3). */
function scriptedEntropy(w: number, previous: number): number {
  return (mix(w, previous, 0xe7) % 3000) / 1000;
}

/** Where answer text for a task comes from: its worked solution, its answer, or (held-out programs) the answer its meta implies. */
export function answerOf(task: Task): string | undefined {
  if (task.solution !== undefined) return task.solution;
  if (task.answer !== undefined) return task.answer;
  const meta = task.meta as { type?: string; task?: { program?: string; input?: unknown; output?: unknown } } | undefined;
  if (meta?.type === 'deduction') return String(meta.task?.output);
  if (meta?.type === 'abduction') return String(meta.task?.input);
  if (meta?.type === 'induction') return meta.task?.program;
  return undefined;
}

/** Remembers the tasks a run's source hands out, by prompt, to answer prompts that are (or end with) one. */
export class TaskOracle {
  private readonly byPrompt = new Map<string, Task>();
  private longestFirst: string[] | null = null;

  /** The source, recording every task it returns. */
  wrap(source: TaskSource): TaskSource {
    return {
      ...source,
      tasks: (request) => {
        const tasks = source.tasks(request);
        for (const task of tasks) this.record(task);
        return tasks;
      },
    };
  }

  record(task: Task): void {
    if (this.byPrompt.has(task.prompt)) return;
    this.byPrompt.set(task.prompt, task);
    this.longestFirst = null;
  }

  /** The task whose prompt `prompt` is (`exact`), else the one with the longest prompt that `prompt` ends with (a refinement prompt). */
  find(prompt: string): { task: Task; exact: boolean } | undefined {
    const exact = this.byPrompt.get(prompt);
    if (exact) return { task: exact, exact: true };
    this.longestFirst ??= [...this.byPrompt.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
    const suffix = this.longestFirst.find((p) => p.length > 0 && prompt.endsWith(p));
    return suffix === undefined ? undefined : { task: this.byPrompt.get(suffix)!, exact: false };
  }
}

interface WeightsState {
  /** Hash chained over everything trained on. */
  weights: string;
  /** Optimizer steps behind these weights (since the initial weights). */
  trainedSteps: number;
  /** Optimizer steps of the current training stage (reset by a weights-only load). */
  optimizerSteps: number;
}

const HASH_ALPHABET = '0123456789+-=>,;:x ';

export class ScriptedBackend implements TrainingBackend {
  /** Calls made, by method (a test checks an injected backend was used). */
  readonly calls = { sample: 0, forward: 0, forwardBackward: 0, optimStep: 0, save: 0, load: 0 };
  private state: WeightsState;
  private pending: { datums: { input: number[]; target: number[]; weights: number[] }[]; grads: number[][] } = { datums: [], grads: [] };

  constructor(
    private readonly oracle: TaskOracle,
    seed: number,
  ) {
    this.state = { weights: `init-${seed}`, trainedSteps: 0, optimizerSteps: 0 };
  }

  /** The weights' hash, as a 32-bit number for logprobs. */
  private get w(): number {
    return hash32(this.state.weights);
  }

  async sample(prompts: readonly (string | readonly number[])[], options: BackendSampleOptions = {}): Promise<Completion[][]> {
    this.calls.sample++;
    const n = options.n ?? 1;
    const temperature = options.temperature ?? 1;
    const rules = {
      stopIds: new Set(options.stopTokenIds ?? [tokenizer.eosId]),
      stopBytes: (options.stop ?? []).map((text) => new TextEncoder().encode(text)),
      maxTokens: options.maxTokens ?? 64,
      maxLength: Number.POSITIVE_INFINITY,
    };
    const w = this.w;
    return prompts.map((prompt, position) => {
      const ids = typeof prompt === 'string' ? tokenizer.encode(prompt, { addBos: true }) : Array.from(prompt);
      const text = typeof prompt === 'string' ? prompt : tokenizer.decode(prompt);
      return Array.from({ length: n }, (_, index) => {
        // As in the engine, sample j of prompt i draws from the stream (seed, i, j): equal prompts in one call get different samples.
        const choice = hash32(JSON.stringify([text, options.seed ?? 0, position, index, this.state.weights, temperature]));
        const intended = this.intendedTokens(text, choice, rules.maxTokens);
        const seq = { tokens: [] as number[], logprobs: [] as number[], bytes: [] as number[], tokenEnds: [] as number[] };
        const entropy: number[] = [];
        let end: ReturnType<typeof appendToken> = null;
        for (const id of intended) {
          const previous = seq.tokens.length ? seq.tokens[seq.tokens.length - 1] : ids[ids.length - 1];
          seq.logprobs.push(scriptedLogprob(w, previous, id));
          entropy.push(scriptedEntropy(w, previous));
          end = appendToken(seq, id, tokenizer, ids.length, rules);
          if (end) break;
        }
        const textTokens = end?.byToken ? seq.tokens.slice(0, -1) : seq.tokens;
        return {
          text: tokenizer.decode(textTokens),
          tokens: seq.tokens,
          logprobs: seq.logprobs,
          // The behaviour distribution's logprobs, as the engine reports them: the policy's at temperature 1, a tempered stand-in otherwise (0 when greedy).
          behaviourLogprobs: seq.logprobs.map((lp) => (temperature === 1 ? lp : temperature === 0 ? 0 : lp / temperature)),
          ...(options.entropy ? { entropy: entropy.slice(0, seq.tokens.length) } : {}),
          finishReason: end?.reason ?? 'length',
        };
      });
    });
  }

  /** What the "model" means to write for a prompt (EOS included when it ends), before stop strings and maxTokens apply. */
  private intendedTokens(prompt: string, choice: number, maxTokens: number): number[] {
    const found = this.oracle.find(prompt);
    const answer = found ? answerOf(found.task) : undefined;
    const eos = tokenizer.eosId;
    const hashText = (length: number) => Array.from({ length }, (_, i) => HASH_ALPHABET[mix(choice, i) % HASH_ALPHABET.length]).join('');
    if (answer === undefined) {
      // A prompt no task explains: one of a few plausible shapes.
      const digit = (i: number) => String(mix(choice, 0xd1, i) % 10);
      const pieces = prompt.split(/[\s:|,=>]+/).filter((piece) => piece.length > 0);
      const shapes = [
        () => digit(0),
        () => ['x', `x+${digit(1)}`, `x*${digit(1)}`, `(x+${digit(1)})%${1 + (mix(choice, 3) % 9)}`, `${digit(1)}-x`, digit(1)][mix(choice, 2) % 6],
        () => Array.from({ length: mix(choice, 4) % 2 ? 6 : 3 }, (_, i) => digit(10 + i)).join(','),
        () => pieces[mix(choice, 8) % pieces.length] ?? digit(2),
        () => 'YES',
        () => 'NO',
        () => hashText(1 + (mix(choice, 5) % 12)),
      ];
      return [...tokenizer.encode(shapes[choice % shapes.length]()), eos];
    }
    // Right answers: a share of draws that grows with the optimizer steps behind the weights and falls with the task's difficulty, some tasks harder than others.
    const taskOffset = (hash32(found!.task.prompt) % 91) - 45;
    // A refinement prompt (a hint, a reflection on feedback) helps.
    const refinementBonus = found!.exact ? 0 : 40;
    const skill = Math.max(0, Math.min(100, 50 + 3 * this.state.trainedSteps - 10 * ((found!.task.difficulty ?? 1) - 1) + taskOffset + refinementBonus));
    const roll = choice % 100;
    if (roll < skill) return [...tokenizer.encode(answer), eos];
    const variant = (choice >>> 8) % 5;
    if (variant <= 1) return [...tokenizer.encode(corrupt(answer, mix(choice, 6))), eos];
    if (variant === 2) return [...tokenizer.encode(answer.slice(0, Math.ceil(answer.length / 2))), eos];
    if (variant === 3) return tokenizer.encode((answer.replace(/[;\n]+$/, '') + ' ').repeat(Math.ceil((maxTokens + 1) / (answer.length + 1))));
    return [...tokenizer.encode(hashText(1 + (mix(choice, 7) % 16))), eos];
  }

  async forward(batch: readonly Datum[], options: ForwardOptions = {}): Promise<ForwardResult> {
    this.calls.forward++;
    return this.logprobsOf(batch, options);
  }

  /** Per-token logprobs (and entropies) of a batch under the current weights. */
  private logprobsOf(batch: readonly Datum[], options: ForwardOptions): ForwardResult {
    const w = this.w;
    const logprobs = batch.map((d) => Float32Array.from(Array.from(d.targetTokens), (token, t) => scriptedLogprob(w, d.inputTokens[t], token)));
    return { logprobs, ...(options.entropy ? { entropy: batch.map((d) => Float32Array.from(Array.from(d.inputTokens), (token) => scriptedEntropy(w, token))) } : {}) };
  }

  async forwardBackward(batch: readonly Datum[], loss: Loss, options: ForwardOptions = {}): Promise<ForwardBackwardResult> {
    this.calls.forwardBackward++;
    const { logprobs, entropy } = this.logprobsOf(batch, options);
    let value: number;
    let grad: ArrayLike<number>[];
    let metrics: Record<string, number> = {};
    if (loss === 'cross_entropy') {
      const weights = batch.map((d) => (d.weights ? Array.from(d.weights) : Array.from(d.targetTokens, () => 1)));
      value = logprobs.reduce((sum, row, i) => sum + row.reduce((s, lp, t) => s - weights[i][t] * lp, 0), 0);
      grad = weights.map((row) => row.map((x) => -x));
    } else {
      const result = loss(logprobs, batch);
      [value, grad, metrics] = [result.loss, result.grad, result.metrics ?? {}];
    }
    if (!Number.isFinite(value)) throw new Error(`scripted backend: the loss is ${value}`);
    for (const d of batch) this.pending.datums.push({ input: Array.from(d.inputTokens), target: Array.from(d.targetTokens), weights: Array.from(d.weights ?? []) });
    for (const row of grad) this.pending.grads.push(Array.from(row));
    return { loss: value, logprobs, ...(entropy ? { entropy } : {}), metrics: { 'train/loss': value, ...metrics } };
  }

  async optimStep(params: AdamParams): Promise<OptimStepResult> {
    this.calls.optimStep++;
    let squares = 0;
    for (const row of this.pending.grads) for (const g of row) squares += g * g;
    const round = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)) : String(x));
    const trained = JSON.stringify({
      datums: this.pending.datums.map((d) => ({ ...d, weights: d.weights.map(round) })),
      grads: this.pending.grads.map((row) => row.map(round)),
      params,
    });
    this.state = {
      weights: createHash('sha256').update(`${this.state.weights}\n${trained}`).digest('hex').slice(0, 16),
      trainedSteps: this.state.trainedSteps + 1,
      optimizerSteps: this.state.optimizerSteps + 1,
    };
    this.pending = { datums: [], grads: [] };
    return { gradNorm: Math.sqrt(squares), learningRate: params.learningRate, step: this.state.optimizerSteps };
  }

  async save(dir: string): Promise<void> {
    this.calls.save++;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, SCRIPTED_WEIGHTS_FILE), JSON.stringify(this.state));
  }

  async load(dir: string, options: { weightsOnly?: boolean } = {}): Promise<void> {
    this.calls.load++;
    const saved = JSON.parse(readFileSync(join(dir, SCRIPTED_WEIGHTS_FILE), 'utf8')) as WeightsState;
    this.state = options.weightsOnly ? { ...saved, optimizerSteps: 0 } : saved;
    this.pending = { datums: [], grads: [] };
  }

  async close(): Promise<void> {}
}

/** `text` with one of its last three digits changed (where final answers usually are), or with no digit, one character; at a hashed position. */
function corrupt(text: string, h: number): string {
  const digits = [...text].flatMap((c, i) => (c >= '0' && c <= '9' ? [i] : [])).slice(-3);
  if (digits.length === 0) {
    const at = h % Math.max(1, text.length);
    return text.slice(0, at) + (text[at] === 'x' ? 'y' : 'x') + text.slice(at + 1);
  }
  const at = digits[h % digits.length];
  return text.slice(0, at) + String((Number(text[at]) + 1 + (mix(h, 1) % 9)) % 10) + text.slice(at + 1);
}
