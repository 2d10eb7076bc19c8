/**
 * Building blocks of self-training rounds (STaR, ReST-EM, Re-ReST share them):
 * sample attempts, verify them, accept the passing ones, fine-tune on them,
 * evaluate. Each is a plain function of a TrainingBackend, tasks and a
 * verifier; the loop (phases, run store, recipes) composes them.
 */
import type { Datum, TrainingBackend } from '../spec/training-backend.js';
import type { Policy, SamplingOptions } from '../spec/policy.js';
import type { Attempt, TrajectoryKind } from '../spec/trajectory.js';
import type { Task } from '../spec/task.js';
import type { Verification, Verifier } from '../spec/verifier.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { learningRateAt } from '../engine/optimizer.js';
import { datumFromSequence, meanOverTokens } from '../engine/engine.js';
import { Rng } from '../engine/random.js';

export type { Attempt };


/**
 * Samples n attempts per task and verifies each. Attempts come back grouped
 * per task, in task order. `prompts` overrides what the policy reads (a
 * reflection or hint prompt) while the attempt stays one at the task.
 */
export async function sampleAndVerify(
  policy: Pick<Policy, 'sample'> & { version?: string },
  tasks: readonly Task[],
  verifier: Verifier,
  settings: SamplingOptions,
  options: { prompts?: readonly string[]; kind?: TrajectoryKind } = {},
): Promise<Attempt[][]> {
  if (tasks.length === 0) return [];
  const groups = await policy.sample(options.prompts ?? tasks.map((task) => task.prompt), {
    n: settings.n,
    temperature: settings.temperature,
    topP: settings.topP ?? 1,
    maxTokens: settings.maxTokens,
    stop: settings.stop ?? [],
    seed: settings.seed,
  });
  return Promise.all(
    groups.map((samples, i) =>
      Promise.all(
        samples.map(async (sample, j) => ({
          task: tasks[i],
          sample: j,
          kind: options.kind ?? 'sample',
          policyVersion: policy.version,
          completion: sample.text,
          tokens: sample.tokens,
          logprobs: sample.logprobs,
          finishReason: sample.finishReason,
          // The stop string is not in the text; verifiers read an answer that runs to the end of the text.
          verification: await verifier.verify(tasks[i], sample.text),
        })),
      ),
    ),
  );
}

export function passed(attempt: Attempt): boolean {
  return attempt.verification.status === 'scored' && attempt.verification.pass;
}

/**
 * The accepted set of a round: passing attempts, at most `capPerTask` per task,
 * distinct completions first (ReST-EM caps per task so easy tasks do not dominate).
 */
export function acceptPassing(groups: readonly Attempt[][], options: { capPerTask: number }): Attempt[] {
  return groups.flatMap((group) => firstDistinct(group.filter(passed), options.capPerTask, (attempt) => attempt.completion));
}

/** The first `cap` candidates with distinct completions, in order (the per-task cap of ReST-EM). */
export function firstDistinct<T>(candidates: readonly T[], cap: number, completion: (candidate: T) => string): T[] {
  const seen = new Set<string>();
  const kept: T[] = [];
  for (const candidate of candidates) {
    if (seen.size >= cap) break;
    if (seen.has(completion(candidate))) continue;
    seen.add(completion(candidate));
    kept.push(candidate);
  }
  return kept;
}

/** An SFT example: the loss covers the completion (and the EOS after it), not the prompt. */
export function sftDatum(tokenizer: Tokenizer, prompt: string, completion: string): Datum {
  const promptIds = tokenizer.encode(prompt, { addBos: true });
  return datumFromSequence([...promptIds, ...tokenizer.encode(completion), tokenizer.eosId], promptIds.length);
}

export interface SftSettings {
  steps: number;
  batchSize: number;
  learningRate: number;
  /** Warmup steps of the cosine schedule (default steps / 20). */
  warmupSteps?: number;
  weightDecay?: number;
  seed: number;
  /** Called after every step. */
  onStep?: (step: number, loss: number) => void;
}

/** A supervised example; examples of different `group`s never share a batch. */
export interface SftExample {
  prompt: string;
  completion: string;
  /**
   * Batches are drawn within a group (default: one group). A batch costs its
   * longest sequence times its size, so long auxiliary examples (reflection
   * prompts) kept apart from short task examples save most of the padding.
   */
  group?: string;
}

/**
 * Fine-tunes on (prompt, completion) pairs: mean token cross-entropy over the
 * completions of each batch, AdamW with a cosine schedule. Every epoch visits
 * each example once: a seeded shuffle within each group, cut into batches,
 * the batches of all groups shuffled together. Returns the loss of each step.
 */
export async function fineTune(backend: TrainingBackend, tokenizer: Tokenizer, examples: readonly SftExample[], settings: SftSettings): Promise<number[]> {
  if (examples.length === 0 || settings.steps === 0) return [];
  const data = examples.map((e) => sftDatum(tokenizer, e.prompt, e.completion));
  const groups = new Map<string, number[]>();
  examples.forEach((e, i) => (groups.get(e.group ?? '') ?? groups.set(e.group ?? '', []).get(e.group ?? '')!).push(i));
  const rng = new Rng(settings.seed, 0x5f7);
  let batches: number[][] = [];
  const losses: number[] = [];
  for (let step = 0; step < settings.steps; step++) {
    if (batches.length === 0) batches = epochBatches([...groups.values()], settings.batchSize, rng);
    const batch = batches.pop()!.map((i) => data[i]);
    const { loss } = await backend.forwardBackward(meanOverTokens(batch), 'cross_entropy');
    await backend.optimStep({
      learningRate: learningRateAt({ kind: 'cosine', learningRate: settings.learningRate, warmupSteps: settings.warmupSteps ?? Math.floor(settings.steps / 20), totalSteps: settings.steps, minLearningRate: settings.learningRate / 10 }, step),
      weightDecay: settings.weightDecay ?? 0.01,
      gradClipNorm: 1,
    });
    losses.push(loss);
    settings.onStep?.(step, loss);
  }
  return losses;
}

/** One epoch's batches of example indices; a group's last batch may be smaller. */
function epochBatches(groups: readonly number[][], batchSize: number, rng: Rng): number[][] {
  const batches: number[][] = [];
  for (const group of groups) {
    const order = rng.shuffle([...group]);
    const size = Math.min(batchSize, order.length);
    for (let i = 0; i < order.length; i += size) batches.push(order.slice(i, i + size));
  }
  return batches.length > 1 ? rng.shuffle(batches.map((_, i) => i)).map((i) => batches[i]) : batches;
}

/** Greedy accuracy (pass@1 at temperature 0) per difficulty, and overall. */
export async function evaluate(policy: Pick<Policy, 'sample'>, tasks: readonly Task[], verifier: Verifier, settings: { maxTokens: number; stop?: string[] }): Promise<{ accuracy: number; byDifficulty: Record<string, number> }> {
  return greedyAccuracy(await sampleAndVerify(policy, tasks, verifier, { n: 1, temperature: 0, maxTokens: settings.maxTokens, stop: settings.stop, seed: 0 }));
}

/** The accuracy of each group's first attempt per difficulty (`all` for tasks without one), and overall. */
export function greedyAccuracy(groups: readonly (readonly Attempt[])[]): { accuracy: number; byDifficulty: Record<string, number> } {
  const totals = new Map<string, { pass: number; count: number }>();
  let pass = 0;
  for (const [attempt] of groups) {
    const key = String(attempt.task.difficulty ?? 'all');
    const entry = totals.get(key) ?? { pass: 0, count: 0 };
    entry.count++;
    if (passed(attempt)) {
      entry.pass++;
      pass++;
    }
    totals.set(key, entry);
  }
  const byDifficulty = Object.fromEntries([...totals].map(([key, { pass: p, count }]) => [key, p / count]));
  return { accuracy: groups.length ? pass / groups.length : 0, byDifficulty };
}
