/**
 * A recording mock TrainingBackend for loop tests. Its "weights" are a hash of
 * the data it was trained on, saved to and loaded from checkpoint directories;
 * its samples are a deterministic function of the prompt, the seed, the sample
 * index and (by default) the weights, so a resumed loop that loaded the wrong
 * checkpoint samples differently.
 */
import type { Completion } from '../../src/spec/policy.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Datum, ForwardBackwardResult, ForwardResult, TrainingBackend } from '../../src/spec/training-backend.js';
import type { AdamParams, OptimStepResult } from '../../src/engine/optimizer.js';
import type { SampleOptions } from '../../src/engine/sampler.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';

export const tokenizer = new ByteTokenizer();

/** What the mock is asked: an addition prompt (maybe inside a reflection or hint prompt) and the draw. */
export interface Ask {
  prompt: string;
  /** `sample`: a plain `a+b=` prompt; `hint`: `{answer}|{prompt}`; `reflection`: `{prompt}{attempt}|{feedback}|{prompt}`. */
  kind: 'sample' | 'hint' | 'reflection';
  a: number;
  b: number;
  sum: number;
  /** The hint (answer) of a hint prompt, the failed attempt of a reflection prompt. */
  hint?: string;
  attempt?: string;
  seed: number;
  index: number;
  weights: string;
}
/** A completion's text; `{ text, eos: true }` ends it with the EOS token instead of a stop string. */
export type Answerer = (ask: Ask) => string | { text: string; eos: true };

export type Call =
  | { op: 'sample'; prompts: string[]; options: SampleOptions }
  | { op: 'forwardBackward'; batch: Datum[]; weights: string }
  | { op: 'optimStep'; params: AdamParams }
  | { op: 'save' | 'load'; dir: string; weights: string }
  | { op: 'phase'; round: number; phase: string };

export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Default: refinements are right; own samples are right, right with a leading zero, or one off, by a hash of everything. */
export const defaultAnswer: Answerer = (ask) => {
  if (ask.kind !== 'sample') return String(ask.sum);
  const variant = hash(`${ask.prompt}/${ask.seed}/${ask.index}/${ask.weights}`) % 4;
  return variant === 0 ? `0${ask.sum}` : variant === 1 ? String(ask.sum + 1) : String(ask.sum);
};

/** The logprobs the mock reports for a completion's tokens. */
export const mockLogprobs = (tokens: readonly number[], index: number) => tokens.map((_, t) => -0.1 * (t + 1) - index / 7);

export class MockBackend implements TrainingBackend {
  readonly calls: Call[] = [];
  weights = 'init';
  private pending: Datum[] = [];

  constructor(private readonly answer: Answerer = defaultAnswer, private readonly onSample?: (options: SampleOptions) => void) {}

  samples(): Extract<Call, { op: 'sample' }>[] {
    return this.calls.filter((c): c is Extract<Call, { op: 'sample' }> => c.op === 'sample');
  }

  async sample(prompts: readonly (string | readonly number[])[], options: SampleOptions = {}): Promise<Completion[][]> {
    const texts = prompts.map((p) => (typeof p === 'string' ? p : tokenizer.decode(p)));
    this.onSample?.(options);
    this.calls.push({ op: 'sample', prompts: texts, options: structuredClone(options) });
    return texts.map((prompt) => {
      const match = /(\d+)\+(\d+)=$/.exec(prompt);
      if (!match) throw new Error(`mock backend: cannot read the prompt ${JSON.stringify(prompt)}`);
      const [a, b] = [Number(match[1]), Number(match[2])];
      const parts = prompt.split('|');
      const kind = parts.length === 1 ? 'sample' : parts.length === 2 ? 'hint' : 'reflection';
      const extra = kind === 'hint' ? { hint: parts[0] } : kind === 'reflection' ? { attempt: parts[0].slice(parts[2].length) } : {};
      return Array.from({ length: options.n ?? 1 }, (_, index) => {
        const answer = this.answer({ prompt, kind, a, b, sum: a + b, seed: options.seed ?? 0, index, weights: this.weights, ...extra });
        const text = typeof answer === 'string' ? answer : answer.text;
        const tokens = typeof answer === 'string' ? tokenizer.encode(text) : [...tokenizer.encode(text), tokenizer.eosId];
        const logprobs = mockLogprobs(tokens, index);
        // As the engine does: the behaviour distribution's logprobs beside the temperature-1 ones (a tempered stand-in off temperature 1; 0 when greedy).
        const temperature = options.temperature ?? 1;
        const behaviourLogprobs = logprobs.map((lp) => (temperature === 1 ? lp : temperature === 0 ? 0 : lp / temperature));
        return { text, tokens, logprobs, behaviourLogprobs, finishReason: 'stop' as const };
      });
    });
  }

  async forward(batch: readonly Datum[]): Promise<ForwardResult> {
    return { logprobs: batch.map((d) => new Float32Array(d.targetTokens.length)) };
  }

  async forwardBackward(batch: readonly Datum[]): Promise<ForwardBackwardResult> {
    this.calls.push({ op: 'forwardBackward', batch: [...batch], weights: this.weights });
    this.pending.push(...batch);
    return { loss: 1.25, logprobs: batch.map((d) => new Float32Array(d.targetTokens.length).fill(-1.25)), metrics: {} };
  }

  async optimStep(params: AdamParams): Promise<OptimStepResult> {
    this.calls.push({ op: 'optimStep', params });
    this.weights = hash(`${this.weights}/${JSON.stringify(this.pending.map((d) => Array.from(d.inputTokens)))}`).toString(16);
    this.pending = [];
    return { gradNorm: 1, learningRate: params.learningRate, step: 1 };
  }

  async save(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'weights.json'), JSON.stringify({ weights: this.weights }));
    this.calls.push({ op: 'save', dir, weights: this.weights });
  }

  async load(dir: string): Promise<void> {
    this.weights = (JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as { weights: string }).weights;
    this.calls.push({ op: 'load', dir, weights: this.weights });
  }

  async close(): Promise<void> {}
}

/** An SFT datum read back: the prompt (unweighted) and the completion (weighted targets; EOS dropped). */
export function decodeDatum(datum: Datum): { prompt: string; completion: string } {
  const weights = Array.from(datum.weights ?? []);
  const first = weights.findIndex((w) => w > 0);
  const targets = Array.from(datum.targetTokens).filter((_, t) => weights[t] > 0);
  return { prompt: tokenizer.decode(Array.from(datum.inputTokens).slice(0, first + 1)), completion: tokenizer.decode(targets) };
}
