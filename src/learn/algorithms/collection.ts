/**
 * How a policy-gradient step collects its groups of completions.
 *
 *   fixed           n completions for each of P prompts (GRPO).
 *   dapo            DAPO dynamic sampling (https://arxiv.org/abs/2503.14476):
 *                   groups whose completions all got the same reward carry
 *                   no signal under group baselines; they are dropped and
 *                   more prompts are sampled until P groups remain (or the
 *                   call budget is spent).
 *   reinforce-ada   Reinforce-Ada (https://arxiv.org/abs/2510.04996, reference
 *                   code WeiXiongUST/Reinforce-Ada): each prompt is sampled
 *                   in rounds until it meets its exit condition (balance:
 *                   ⌊n/2⌋ passes and n − ⌊n/2⌋ fails; mixed: a pass and a
 *                   fail; positive: one pass) or
 *                   the rounds run out; a group of n is then drawn balanced
 *                   between passes and fails from everything sampled, and its
 *                   baseline statistics are those of everything sampled for
 *                   the prompt.
 *
 * The functions are independent of the model: `draw` samples and scores.
 */
import type { Task } from '../../spec/task.js';
import type { Trajectory } from '../../spec/trajectory.js';
import { meanStd, type GroupStatistics } from './advantages.js';

/** A scored trajectory of a group (verifier errors are left out by `draw` and counted by the caller). */
export interface ScoredCompletion {
  task: Task;
  /** What was sampled: the tokens and logprobs a learner trains on. */
  trajectory: Trajectory;
  reward: number;
  pass: boolean;
  /** The verifier's reward components, when it reports them. */
  rewardParts?: number[];
}

/** Samples `n` completions for each task and scores them; `call` numbers the calls of a step (for seeds). */
export type Draw = (tasks: readonly Task[], n: number, call: number) => Promise<ScoredCompletion[][]>;

/** One group to train on. */
export interface CollectedGroup {
  task: Task;
  members: ScoredCompletion[];
  /** Statistics over everything sampled for the prompt, when that is more than `members` (Reinforce-Ada). */
  statistics?: GroupStatistics;
  /** Share of everything sampled for the prompt that passed. */
  passRate: number;
}

export interface Collection {
  groups: CollectedGroup[];
  /** Completions sampled, kept or not. */
  sampled: number;
  /** Prompts sampled. */
  prompts: number;
  /** Prompts all of whose sampled completions got the same reward. */
  zeroVariancePrompts: number;
  /** Sampling calls made. */
  calls: number;
}

export type CollectionStrategy =
  | { kind: 'fixed' }
  | { kind: 'dapo'; maxBatches: number }
  | { kind: 'reinforce-ada'; exit: 'balance' | 'mixed' | 'positive'; perRound: number; maxRounds: number };

/** Collects a step's groups: `next(count)` hands out the next prompts of the round's pool. */
export async function collectGroups(settings: CollectionStrategy, options: { prompts: number; n: number }, next: (count: number) => Task[], draw: Draw): Promise<Collection> {
  switch (settings.kind) {
    case 'fixed': {
      const groups = await draw(next(options.prompts), options.n, 0);
      return { groups: groups.map(asGroup), sampled: count(groups), prompts: groups.length, zeroVariancePrompts: groups.filter(zeroVariance).length, calls: 1 };
    }
    case 'dapo': {
      const kept: CollectedGroup[] = [];
      const collection: Collection = { groups: kept, sampled: 0, prompts: 0, zeroVariancePrompts: 0, calls: 0 };
      while (kept.length < options.prompts && collection.calls < settings.maxBatches) {
        const groups = await draw(next(options.prompts), options.n, collection.calls++);
        collection.sampled += count(groups);
        collection.prompts += groups.length;
        for (const group of groups) {
          if (zeroVariance(group)) collection.zeroVariancePrompts++;
          else if (kept.length < options.prompts) kept.push(asGroup(group));
        }
      }
      return collection;
    }
    case 'reinforce-ada':
      return reinforceAda(settings, options, next(options.prompts), draw);
  }
}

async function reinforceAda(settings: Extract<CollectionStrategy, { kind: 'reinforce-ada' }>, options: { n: number }, tasks: readonly Task[], draw: Draw): Promise<Collection> {
  const { n } = options;
  const pool = tasks.map(() => [] as ScoredCompletion[]);
  const finished = (all: readonly ScoredCompletion[]) => {
    const passes = all.filter((c) => c.pass).length;
    if (settings.exit === 'positive') return passes >= 1;
    if (settings.exit === 'mixed') return passes >= 1 && all.length - passes >= 1;
    return passes >= Math.floor(n / 2) && all.length - passes >= n - Math.floor(n / 2);
  };
  let calls = 0;
  for (let round = 0; round < settings.maxRounds; round++) {
    const active = tasks.map((_, i) => i).filter((i) => !finished(pool[i]));
    if (active.length === 0) break;
    const groups = await draw(active.map((i) => tasks[i]), settings.perRound, calls++);
    active.forEach((i, j) => pool[i].push(...groups[j]));
  }
  const groups = tasks.map((task, i): CollectedGroup => {
    const all = pool[i];
    const passRate = all.length ? all.filter((c) => c.pass).length / all.length : 0;
    const members = finished(all) || settings.exit !== 'positive' ? balancedGroup(all, n) : positiveFallbackGroup(all, n);
    return { task, members, statistics: { ...meanStd(all.map((c) => c.reward)), count: all.length }, passRate };
  });
  return { groups, sampled: pool.reduce((s, p) => s + p.length, 0), prompts: tasks.length, zeroVariancePrompts: pool.filter(zeroVariance).length, calls };
}

/**
 * Reinforce-Ada's group of n from everything sampled for a prompt, first
 * collected first: up to ⌊n/2⌋ passes, then fails to fill, then more passes
 * if fails ran out (the reference code's order).
 */
export function balancedGroup(pool: readonly ScoredCompletion[], n: number): ScoredCompletion[] {
  const take = Math.min(n, pool.length);
  const passes = pool.filter((c) => c.pass);
  const fails = pool.filter((c) => !c.pass);
  const fromPasses = Math.min(Math.floor(n / 2), passes.length);
  const fromFails = Math.min(take - fromPasses, fails.length);
  const topUp = take - fromPasses - fromFails;
  return [...passes.slice(0, fromPasses + topUp), ...fails.slice(0, fromFails)];
}

/**
 * The positive-exit variant's group for a prompt that never met its exit (so it
 * has no pass): the reference code's proportional rule, which with no passes
 * takes failures only.
 */
function positiveFallbackGroup(pool: readonly ScoredCompletion[], n: number): ScoredCompletion[] {
  const take = Math.min(n, pool.length);
  const passes = pool.filter((c) => c.pass);
  const fails = pool.filter((c) => !c.pass);
  const wanted = Math.max(Math.min(Math.ceil((passes.length / Math.max(1, pool.length)) * n), take - 1), 1);
  const fromPasses = Math.min(wanted, passes.length);
  const fromFails = Math.min(take - fromPasses, fails.length);
  return [...passes.slice(0, take - fromFails), ...fails.slice(0, fromFails)];
}

function asGroup(members: ScoredCompletion[]): CollectedGroup {
  return { task: members[0]?.task, members, passRate: members.length ? members.filter((c) => c.pass).length / members.length : 0 };
}

function zeroVariance(group: readonly ScoredCompletion[]): boolean {
  return group.every((c) => c.reward === group[0].reward);
}

function count(groups: readonly ScoredCompletion[][]): number {
  return groups.reduce((s, g) => s + g.length, 0);
}
