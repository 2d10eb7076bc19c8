/**
 * The rollout engine: environments × policy → trajectories. It drives
 * `reset/step` for many episodes at once and batches every live episode's
 * next turn into one sampling call, so the embedded sampler's batching and a
 * server policy's concurrency apply to multi-turn episodes too. Turn 0 asks
 * for n samples per task in one call (the sampler shares each prompt's
 * prefill across its n samples); later turns continue each episode's own
 * tokens (Policy.sampleTokens) where the policy can take token ids, else its
 * transcript (every observation and action so far, as text).
 *
 * What a rollout needs of a policy's completions (`needs`): `tokens` (the
 * default) refuses completions without the token ids and logprobs a learner
 * trains on (policy gradient); `text` takes any completion, for callers that
 * read only the text and its verdict (self-training's sampling, whose SFT
 * re-encodes the accepted text; evaluation; probes), so a remote server that
 * returns text alone can sample them.
 */
import type { Environment, Episode } from '../spec/environment.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';
import type { Task } from '../spec/task.js';
import type { Provenance, Trajectory, Turn } from '../spec/trajectory.js';
import { InvalidArgumentError, PolicyCapabilityError } from '../errors.js';

/** Encodes observations into the token ids the policy reads. */
export interface ObservationEncoder {
  encode(text: string, options?: { addBos?: boolean }): number[];
}

export interface RolloutOptions {
  /** n = episodes per task; the seed of turn t's call is derived from `seed` and t. */
  sampling: SamplingOptions;
  tokenizer: ObservationEncoder;
  /** Provenance every trajectory gets (its sampleIndex is the episode's index within its task). */
  provenance: Omit<Provenance, 'sampleIndex' | 'environment' | 'kind'> & { kind?: Provenance['kind'] };
  /** The weights' version, when the policy does not tag its completions. */
  policyVersion: string;
  /** Called after each batched turn with the episodes still running. */
  onTurn?: (turn: number, live: number) => void;
  /**
   * What the caller needs of each completion: `tokens` (default) refuses one
   * without token ids and their logprobs (and a tempered one without
   * behaviour logprobs), as learner data need them; `text` takes any
   * completion — its trajectories may then have empty token and logprob
   * arrays, and no learner datum can be built from them.
   */
  needs?: 'tokens' | 'text';
}

interface Running {
  task: Task;
  index: number;
  episode: Episode;
  /** Every token the policy has read and written so far. */
  context: number[];
  turns: Turn[];
  observation: string;
  observationTokens: number[];
  /** Every observation and action so far as text: what a policy without token input reads on later turns. */
  transcript: string;
  done: boolean;
  pass: boolean;
  rewardParts?: number[];
  policyVersion?: string;
}

/** The seed of a turn's sampling call: turn 0 uses the call's seed as it is (a single-turn rollout samples exactly as policy.sample would). */
export function turnSeed(seed: number, turn: number): number {
  if (turn === 0) return seed;
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (const value of [0x7475726e, turn]) hash = Math.imul(hash ^ value, 0x01000193) >>> 0;
  return hash & 0x7fffffff;
}

/** Runs `sampling.n` episodes of each task to the end; result[i][j] is episode j of tasks[i]. */
export async function rollout(policy: Policy, environment: Environment, tasks: readonly Task[], options: RolloutOptions): Promise<Trajectory[][]> {
  const { sampling, tokenizer } = options;
  const needsTokens = (options.needs ?? 'tokens') === 'tokens';
  if (!Number.isInteger(sampling.n) || sampling.n < 1) throw new InvalidArgumentError('sampling.n', `is ${sampling.n}; a rollout runs at least one episode per task`);
  const running: Running[][] = [];
  for (const task of tasks) {
    const group: Running[] = [];
    for (let index = 0; index < sampling.n; index++) {
      const episode = await environment.reset(task);
      const observationTokens = tokenizer.encode(episode.observation, { addBos: true });
      group.push({ task, index, episode, context: [...observationTokens], turns: [], observation: episode.observation, observationTokens, transcript: episode.observation, done: false, pass: false });
    }
    running.push(group);
  }

  for (let turn = 0; turn < environment.maxTurns; turn++) {
    const live = running.flat().filter((r) => !r.done);
    if (live.length === 0) break;
    const seed = turnSeed(sampling.seed, turn);
    let completions: Completion[];
    if (turn === 0) {
      // Every episode of a task starts from the same observation: one prompt with n samples.
      const groups = await samplePrompts(policy, running.map((group) => group[0]), { ...sampling, seed });
      completions = running.flatMap((group, i) => group.map((_, j) => groups[i][j]));
    } else {
      completions = (await samplePrompts(policy, live, { ...sampling, n: 1, seed })).map((group) => group[0]);
    }
    if (needsTokens) for (const completion of completions) checkCompletion(policy, completion, sampling);
    const steps = await Promise.all(live.map((r, k) => r.episode.step(completions[k].text)));
    live.forEach((r, k) => {
      const completion = completions[k];
      const step = steps[k];
      r.turns.push({
        observation: r.observation,
        observationTokens: r.observationTokens,
        action: completion.text,
        actionTokens: completion.tokens,
        logprobs: completion.logprobs,
        ...behaviourOf(completion, sampling),
        ...(completion.entropy ? { entropy: completion.entropy } : {}),
        finishReason: completion.finishReason,
        reward: step.reward,
        feedback: step.feedback,
        ...(step.verification ? { verification: step.verification } : {}),
      });
      r.context.push(...completion.tokens);
      r.transcript += completion.text;
      r.policyVersion ??= completion.policyVersion;
      r.pass = step.pass ?? false;
      r.rewardParts = step.rewardParts;
      if (step.done || turn === environment.maxTurns - 1) r.done = true;
      else {
        r.observation = step.observation;
        r.observationTokens = tokenizer.encode(step.observation);
        r.context.push(...r.observationTokens);
        r.transcript += step.observation;
      }
    });
    options.onTurn?.(turn, running.flat().filter((r) => !r.done).length);
  }

  return running.map((group) =>
    group.map((r): Trajectory => ({
      task: r.task,
      turns: r.turns,
      reward: r.turns.at(-1)?.reward ?? null,
      pass: r.pass,
      ...(r.rewardParts ? { rewardParts: r.rewardParts } : {}),
      policyVersion: r.policyVersion ?? options.policyVersion,
      sampling: { ...sampling },
      provenance: { kind: 'sample', ...options.provenance, sampleIndex: r.index, environment: { name: environment.name, version: environment.version } },
    })),
  );
}

/**
 * One sampling call over episodes' contexts: their token ids where the policy
 * takes ids, else their transcripts (turn 0: the observation as it is). A
 * transcript, not the decoded ids: a server's completion may come without
 * ids, or with ids of its own tokenizer.
 */
async function samplePrompts(policy: Policy, episodes: readonly Running[], options: SamplingOptions): Promise<Completion[][]> {
  if (policy.sampleTokens) return policy.sampleTokens(episodes.map((r) => r.context), options);
  return policy.sample(episodes.map((r) => r.transcript), options);
}

/**
 * (Under `needs: 'tokens'`.) Token ids and logprobs are what a learner trains on; behaviour logprobs are
 * what importance ratios divide by. A completion without the first two is
 * refused; without the third, only when it was drawn at temperature ≠ 1 or
 * top-p < 1 (where the temperature-1 logprobs are not the behaviour's).
 */
/**
 * A turn's behaviour logprobs: what the policy reported; else, where they are
 * known without it, the temperature-1 logprobs (temperature 1, top-p 1) or
 * zeros (greedy: each token had probability 1), as the engine reports them;
 * else none (a text-only rollout at another temperature).
 */
function behaviourOf(completion: Completion, sampling: SamplingOptions): { behaviourLogprobs?: number[] } {
  if (completion.behaviourLogprobs) return { behaviourLogprobs: completion.behaviourLogprobs };
  if (sampling.temperature === 0) return { behaviourLogprobs: completion.logprobs.map(() => 0) };
  if (sampling.temperature === 1 && (sampling.topP ?? 1) === 1) return { behaviourLogprobs: completion.logprobs };
  return {};
}

function checkCompletion(policy: Policy, completion: Completion, sampling: SamplingOptions): void {
  if ((completion.tokens.length === 0 && completion.text !== '') || completion.logprobs.length !== completion.tokens.length) {
    throw new PolicyCapabilityError(policy.name, 'returned a completion without token ids and their logprobs; trajectories need both (for an OpenAI-compatible server set `sampler.logprobs: true` and `sampler.tokenIds: true`)');
  }
  const tempered = sampling.temperature !== 1 || (sampling.topP ?? 1) !== 1;
  if (tempered && sampling.temperature > 0 && completion.behaviourLogprobs === undefined) {
    throw new PolicyCapabilityError(policy.name, `cannot report the logprobs of the distribution it sampled from (temperature ${sampling.temperature}, top-p ${sampling.topP ?? 1}); sample at temperature 1 and top-p 1, or use a policy that reports them (the embedded engine, a GGUF model)`);
  }
  if (completion.behaviourLogprobs !== undefined && completion.behaviourLogprobs.length !== completion.tokens.length) {
    throw new PolicyCapabilityError(policy.name, `returned ${completion.behaviourLogprobs.length} behaviour logprobs for ${completion.tokens.length} tokens`);
  }
}
