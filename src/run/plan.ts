/**
 * Round plans: before a round draws its tasks, its controllers (the recipe's
 * curriculum, then `controllers:`) read the history of the finished rounds
 * and set the plan — which tasks, the sampling temperature and n, the accept
 * threshold. The plan is stored with the round (with every controller's state
 * and the probe samples they read), so a resumed run replays it exactly, and
 * the round's sampling, curation and learning read the plan, not the recipe.
 */
import { curriculumDifficulties, type Recipe } from '../recipe/schema.js';
import type { Controller, ProbeRecord, RoundHistory, RoundPlan, TaskRecord } from '../spec/controller.js';
import type { Task } from '../spec/task.js';
import type { StoredPlan, StoredSample } from '../store/run-store.js';
import type { LoopParts, LoopRun } from './context.js';
import { buildController, planRound } from '../controllers/index.js';
import { easyToHardController } from '../controllers/easy-to-hard.js';
import { fixedController } from '../controllers/fixed.js';
import { secController } from '../controllers/sec.js';
import { Rng } from '../engine/random.js';
import { scoreGroups } from '../verifiers/groups.js';
import { singleTurnEnvironment } from '../environments/single-turn.js';
import { rollout } from '../rollout/rollout.js';
import { drawTasks } from './tasks.js';
import { methodOf } from './methods/index.js';
import { seedFor } from './seeds.js';
import { savedRoundState } from './policy-gradient-steps.js';
import { InvalidConfigError } from '../errors.js';

/** The recipe's defaults for a round: one draw of `tasks.perRound`, its sampling settings, acceptance by the verifier's pass (or the method's own defaults: self-play's). */
export function defaultPlan(recipe: Recipe, round: number): RoundPlan {
  const own = methodOf(recipe).defaultPlan;
  if (own) return own(recipe, round);
  return { round, draws: [{ category: 'all', count: recipe.tasks.perRound }], sampling: { n: recipe.sample.n, temperature: recipe.sample.temperature, topP: recipe.sample.topP }, acceptThreshold: null, setBy: {} };
}

/** The controllers of a recipe, in the order they plan: its curriculum, then `controllers:`. */
export function recipeControllers(recipe: Recipe): Controller[] {
  const c = recipe.curriculum;
  // Self-play's fixed proportions are its own plan (selfplay.batch of each task type): a fixed curriculum, the default, plans nothing there.
  if (recipe.selfplay && c.kind === 'fixed') return recipe.controllers.map(({ kind, ...options }, i) => buildController(kind, options, `controllers.${i}`));
  const curriculum =
    c.kind === 'fixed'
      ? fixedController({ difficulty: c.difficulty }, 'curriculum')
      : c.kind === 'easy-to-hard'
        ? easyToHardController({ start: c.start, max: c.max, promoteAt: c.promoteAt, review: c.review, floor: Math.min(c.start, ...(recipe.warmup?.difficulties ?? [c.start])) }, 'curriculum')
        : secController({ categories: c.categories, learningRate: c.learningRate, temperature: c.temperature, initialQ: c.initialQ }, 'curriculum');
  return [curriculum, ...recipe.controllers.map(({ kind, ...options }, i) => buildController(kind, options, `controllers.${i}`))];
}

/**
 * The plan of round `round`: the stored one when the round was planned
 * before (a resumed run), else the controllers' over the history, with the
 * probes they ask for drawn first; stored, with the controllers' metrics.
 */
export async function planFor(run: LoopRun, round: number, excluded: ReadonlySet<string>): Promise<RoundPlan> {
  const { parts } = run;
  const { store, recipe } = parts;
  const saved = store.loadPlan(round);
  if (saved) return saved.plan;
  const previous = round > 1 ? store.loadPlan(round - 1) : undefined;
  const probes: Record<string, ProbeRecord[]> = {};
  for (const controller of parts.controllers) {
    if (controller.probe) probes[controller.name] = await drawProbes(run, round, controller.probe, previous?.plan, excluded);
  }
  const planned = planRound(parts.controllers, { round, history: roundHistories(parts, round), plan: defaultPlan(recipe, round), states: previous?.states ?? {}, seed: seedFor(recipe.seed, 'plan', round), probes });
  const record: StoredPlan = { plan: planned.plan, states: planned.states, probes };
  store.savePlan(round, record);
  store.saveMetrics(round, planned.metrics);
  return planned.plan;
}

/** What controllers read of the rounds before `before`: each one's plan, its tasks' records, its probes and metrics. */
export function roundHistories(parts: LoopParts, before: number): RoundHistory[] {
  const { store, recipe } = parts;
  const histories: RoundHistory[] = [];
  for (let round = 1; round < before; round++) {
    const stored = store.loadPlan(round);
    const records = methodOf(recipe).taskRecords?.(parts, round) ?? drawnTaskRecords(parts, round);
    if (!records) continue;
    const plan = stored?.plan ?? { ...defaultPlan(recipe, round), draws: [] };
    histories.push({ round, plan, tasks: records, probes: Object.values(stored?.probes ?? {}).flat(), metrics: store.metrics(round) });
  }
  return histories;
}

/** The records of a round's drawn tasks (undefined: the round drew none), each from its own samples' verdicts and the update's |advantages|. */
function drawnTaskRecords(parts: LoopParts, round: number): TaskRecord[] | undefined {
  const { store, recipe } = parts;
  const tasks = store.loadTasks(round, 'train');
  if (!tasks) return undefined;
  const samplesOf = new Map<string, StoredSample[]>();
  for (const sample of store.loadSamples(round, 'sample')) (samplesOf.get(sample.taskId) ?? samplesOf.set(sample.taskId, []).get(sample.taskId)!).push(sample);
  const solvedBy = methodOf(recipe).solvedBy;
  const acceptedTasks = new Set(solvedBy === 'accepted' ? store.samplesById(store.acceptedIds(round, round)).map((s) => s.taskId) : []);
  const absAdvantages = savedRoundState(store, round).absAdvantages ?? {};
  return tasks.map((task): TaskRecord => {
    const own = samplesOf.get(task.id) ?? [];
    const scored = own.filter((s) => s.verification?.status === 'scored');
    const passes = scored.filter((s) => s.verification?.status === 'scored' && s.verification.pass).length;
    const rewards = scored.map((s) => (s.verification?.status === 'scored' ? s.verification.reward : 0));
    // Solved: an accepted attempt where the method curates (self-training), a passing one where it does not (policy gradient).
    const solved = solvedBy === 'accepted' ? acceptedTasks.has(task.id) : passes > 0;
    const advantage = absAdvantages[task.id];
    return {
      taskId: task.id,
      category: task.difficulty !== undefined ? `d${task.difficulty}` : task.family,
      ...(task.difficulty !== undefined ? { difficulty: task.difficulty } : {}),
      attempts: own.length,
      passes,
      solved,
      meanReward: rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : 0,
      ...(advantage && advantage.count ? { meanAbsAdvantage: advantage.sum / advantage.count } : {}),
    };
  });
}

/**
 * A controller's probe before round `round`: `tasks` tasks (at the difficulty
 * the last round focused on; before round 1, the curriculum's first) sampled `n` times at
 * each candidate temperature by the weights round `round − 1` ended with
 * (a rollout of the single-turn environment around the reward verifier per
 * temperature), each sample's reward from the reward verifier and
 * correctness from the tasks' labels.
 */
async function drawProbes(run: LoopRun, round: number, probe: NonNullable<Controller['probe']>, previous: RoundPlan | undefined, excluded: ReadonlySet<string>): Promise<ProbeRecord[]> {
  const { parts, policy } = run;
  const { recipe } = parts;
  const difficulty = previous?.frontier ?? previous?.draws.find((d) => d.difficulty !== undefined)?.difficulty ?? curriculumDifficulties(recipe.curriculum)[0] ?? parts.source.difficulty.min;
  const { tasks } = drawTasks(parts.source, { count: probe.tasks, difficulty, seed: seedFor(recipe.seed, 'probe', round), split: `probe${round}` }, new Set(excluded));
  await run.useWeights(round - 1);
  const environment = singleTurnEnvironment(parts.rewardVerifier ?? parts.verifier);
  const records: ProbeRecord[] = [];
  for (const temperature of probe.temperatures) {
    const sampling = { n: probe.n, temperature, topP: recipe.sample.topP, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop, seed: seedFor(recipe.seed, 'probe', round, temperature) };
    const groups = await rollout(policy, environment, tasks, { sampling, tokenizer: parts.tokenizer, provenance: { round }, policyVersion: policy.version, needs: 'text' });
    // Correctness: the labels' verdicts (the reward verifier's own, when the rounds are rewarded by the labels).
    const labels = parts.rewardVerifier ? await scoreGroups(parts.verifier, tasks.map((task, i) => ({ task, completions: groups[i].map((t) => t.turns[0].action) }))) : undefined;
    tasks.forEach((task, i) =>
      groups[i].forEach((trajectory, j) => {
        const label = labels ? labels[i][j] : trajectory.turns[0].verification;
        records.push({ taskId: task.id, temperature, reward: trajectory.reward ?? 0, correct: label?.status === 'scored' && label.pass, completion: trajectory.turns[0].action });
      }),
    );
  }
  return records;
}

/**
 * The round's tasks as the plan draws them: per draw, fresh tasks of its
 * difficulty (seeded by round and difficulty), or, with `tasks.pool`, tasks of
 * the fixed pool of that difficulty chosen by the plan's task weights (seeded,
 * without replacement). None of them has a held-out prompt.
 */
export function drawPlannedTasks(parts: LoopParts, plan: RoundPlan, excluded: ReadonlySet<string>): Task[] {
  const { recipe, source } = parts;
  const tasks: Task[] = [];
  for (const draw of plan.draws) {
    if (draw.count === 0) continue;
    if (draw.difficulty === undefined) throw new InvalidConfigError('curriculum', `drew ${draw.count} tasks of category "${draw.category}", but task sources draw by difficulty; name categories d<difficulty> (e.g. d2)`);
    const seed = seedFor(recipe.seed, 'tasks', plan.round, draw.difficulty);
    if (recipe.tasks.pool === undefined) {
      tasks.push(...drawTasks(source, { count: draw.count, difficulty: draw.difficulty, seed, split: `round${plan.round}` }, new Set(excluded)).tasks);
      continue;
    }
    const pool = drawTasks(source, { count: recipe.tasks.pool, difficulty: draw.difficulty, seed: seedFor(recipe.seed, 'pool', draw.difficulty), split: 'pool' }, new Set(excluded)).tasks;
    tasks.push(...weightedSample(pool, draw.count, (task) => plan.taskWeights?.[task.id] ?? plan.defaultTaskWeight ?? 1, new Rng(seed, 0x7001)));
  }
  return tasks;
}

/** `count` items drawn without replacement, each with probability proportional to its weight among those left (Efraimidis–Spirakis keys). */
function weightedSample<T>(items: readonly T[], count: number, weight: (item: T) => number, rng: Rng): T[] {
  const keyed = items.map((item) => ({ item, key: Math.log(Math.max(rng.next(), Number.MIN_VALUE)) / Math.max(weight(item), 1e-12) }));
  keyed.sort((a, b) => b.key - a.key);
  return keyed.slice(0, count).map((k) => k.item);
}
