// Helpers of a policy-gradient round (src/run/methods/policy-gradient.ts): its state and where it resumes from, its task order, and self-critical baselines.
import { Rng } from '../engine/random.js';
import type { Policy } from '../spec/policy.js';
import type { Task } from '../spec/task.js';
import type { CollectedGroup } from '../learn/algorithms/collection.js';
import type { LoopParts } from './context.js';
import { singleTurnEnvironment } from '../environments/single-turn.js';
import { rollout } from '../rollout/rollout.js';
import type { RunStore } from '../store/run-store.js';

/** The round's state in memory; rebuilt from the store's step rows on resume (savedRoundState). */
export interface RoundState {
  /** Steps finished. */
  steps: number;
  /** Next position in the round's task order. */
  cursor: number;
  /** Metrics of each finished step. */
  metrics: Record<string, number>[];
  /** Per task, the sum and count of its trained completions' |advantage| over the finished steps (SEC's learning-gain signal). */
  absAdvantages?: Record<string, { sum: number; count: number }>;
}

/** What each finished step of the `rl` phase stores as its state (src/store/steps.ts): what the next step continues from. */
export interface RlStepState {
  /** Next position in the round's task order. */
  cursor: number;
  /** Per task, the running sum and count of its trained completions' |advantage| over the round's steps so far. */
  absAdvantages: Record<string, { sum: number; count: number }>;
}

/** The state of round `round` as its finished steps left it (no steps: a fresh round). */
export function savedRoundState(store: RunStore, round: number): RoundState {
  const saved = store.finishedSteps<Partial<RlStepState>>(round, 'rl');
  return { steps: saved.steps, cursor: saved.state?.cursor ?? 0, metrics: saved.metrics, ...(saved.state?.absAdvantages ? { absAdvantages: saved.state.absAdvantages } : {}) };
}

/** The round's task order: the pool reshuffled (seeded) on each pass through it; `at(i)` is the i-th task handed out. */
export function taskOrder(pool: readonly Task[], seed: number): { at(i: number): Task } {
  const passes = new Map<number, number[]>();
  return {
    at(i) {
      const pass = Math.floor(i / pool.length);
      let order = passes.get(pass);
      if (!order) {
        order = new Rng(seed, pass).shuffle(pool.map((_, k) => k));
        passes.set(pass, order);
      }
      return pool[order[i % pool.length]];
    },
  };
}

/**
 * Self-critical baselines: the reward of each group's greedy completion, from
 * one rollout of the single-turn environment (text is all it reads). Each
 * group is its own episode: a task drawn twice in a step is two groups, and
 * the environment groups episodes by task object, so each gets a copy (a
 * group verifier must not see two groups' greedy completions as one group).
 */
export async function greedyBaselines(parts: LoopParts, policy: Policy, groups: readonly CollectedGroup[], round: number, step: number): Promise<Map<number, number>> {
  const { recipe } = parts;
  const sampling = { n: 1, temperature: 0, topP: 1, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop, seed: 0 };
  const environment = singleTurnEnvironment(parts.rewardVerifier ?? parts.verifier);
  const greedy = await rollout(policy, environment, groups.map((g) => ({ ...g.task })), { sampling, tokenizer: parts.tokenizer, provenance: { round, step }, policyVersion: policy.version, needs: 'text' });
  const baselines = new Map<number, number>();
  greedy.forEach(([trajectory], gi) => baselines.set(gi, trajectory.reward ?? 0));
  return baselines;
}
