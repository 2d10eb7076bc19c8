/**
 * Trajectories in the run store and as policy-gradient examples. A stored
 * trajectory is one sample row per turn: turn 0 as `sample` (its prompt, its
 * action), every later turn as `correction` whose prompt is the whole episode
 * so far and whose parent is the turn before; each row has its turn's verdict,
 * its turn index, its own observation's token ids and its behaviour logprobs,
 * so `loadTrajectoryTurns` rebuilds the turns exactly.
 * Examples are built from the trajectories' tokens: a single-turn trajectory
 * trains its action; a two-attempt one (SCoRe) trains each attempt on the
 * context before it, with its stage's reward and KL coefficient.
 */
import type { Trajectory, Turn } from '../spec/trajectory.js';
import type { Verifier } from '../spec/verifier.js';
import type { RunStore } from '../store/run-store.js';
import type { RlExample } from '../learn/algorithms/losses.js';
import { computeAdvantages, type AdvantageInput } from '../learn/algorithms/advantages.js';
import { scoreTargets, type ScoreSettings } from '../learn/score.js';
import { trajectoryDatum } from '../rollout/datums.js';
import { trajectoryRow } from '../rollout/rows.js';
import { stepOfVerdict } from '../environments/single-turn.js';
import { RunStoreError } from '../errors.js';

/**
 * Saves a call's trajectories with their verdicts; `indexOf` numbers each task's
 * trajectories across the step's calls. Returns each trajectory's turn-0 row id.
 */
export function storeTrajectories(store: RunStore, trajectories: readonly Trajectory[], indexOf: Map<string, number>, sampler: Record<string, unknown>, verifier: Pick<Verifier, 'name' | 'version'>): Map<Trajectory, number> {
  const indices = trajectories.map((trajectory) => {
    const index = indexOf.get(trajectory.task.id) ?? 0;
    indexOf.set(trajectory.task.id, index + 1);
    return index;
  });
  const firstTurn = (t: Trajectory): Trajectory => ({ ...t, turns: t.turns.slice(0, 1) });
  let parents = store.saveSamples(trajectories.map((t, k) => ({ ...trajectoryRow(firstTurn(t), indices[k]), sampler })));
  const ids = new Map(trajectories.map((t, k) => [t, parents[k]]));
  const scores = trajectories.flatMap((t, k) => (t.turns[0].verification ? [{ sampleId: parents[k], verification: t.turns[0].verification }] : []));
  for (let turn = 1; trajectories.some((t) => t.turns.length > turn); turn++) {
    const later = trajectories.map((t, k) => ({ t, k })).filter(({ t }) => t.turns.length > turn);
    const rows = later.map(({ t, k }) => {
      const current = t.turns[turn];
      const context = t.turns.slice(0, turn).map((u) => u.observation + u.action).join('') + current.observation;
      return { ...trajectoryRow({ ...t, turns: [{ ...current, observation: context }], provenance: { ...t.provenance, kind: 'correction', parentId: parents[k] } }, indices[k], turn), sampler };
    });
    const saved = store.saveSamples(rows);
    const next = [...parents];
    later.forEach(({ t, k }, i) => {
      next[k] = saved[i];
      if (t.turns[turn].verification) scores.push({ sampleId: saved[i], verification: t.turns[turn].verification! });
    });
    parents = next;
  }
  store.saveScores(scores.map((s) => ({ ...s, verifier: { name: verifier.name, version: verifier.version } })));
  return ids;
}

/**
 * The turns of the stored trajectory that sample `sampleId` is a turn of (any
 * of its turns), as storeTrajectories wrote them: each turn's own observation
 * (a later turn's prompt less the episode before it), its token ids, the
 * action with its tokens and both logprobs (at the store's Float32 precision), and the reward and feedback its
 * verdict gave (as the environments give them, src/environments/single-turn.ts
 * stepOfVerdict; none without a verdict). Entropies are not stored. Rows written
 * before store version 3 lack observation tokens and behaviour logprobs: refused.
 */
export function loadTrajectoryTurns(store: RunStore, sampleId: number): { sampleIds: number[]; turns: Turn[] } {
  const rows = store.trajectoryRows(sampleId);
  const turns = rows.map((row, i): Turn => {
    if (!row.observationTokens) throw new RunStoreError(store.path, `sample ${row.id} has no stored observation tokens (written before store version 3, or not by a rollout), so its trajectory cannot be rebuilt exactly`);
    const before = i === 0 ? '' : rows[i - 1].prompt + rows[i - 1].completion;
    if (!row.prompt.startsWith(before)) throw new RunStoreError(store.path, `sample ${row.id}'s prompt does not start with the episode before it (sample ${rows[i - 1].id}'s prompt and completion): the store is damaged`);
    const verdict = row.verification ? stepOfVerdict(row.verification) : undefined;
    return {
      observation: row.prompt.slice(before.length),
      observationTokens: [...row.observationTokens],
      action: row.completion,
      actionTokens: [...row.tokens],
      logprobs: [...row.logprobs],
      ...(row.behaviourLogprobs ? { behaviourLogprobs: [...row.behaviourLogprobs] } : {}),
      finishReason: row.finishReason,
      reward: verdict?.reward ?? null,
      feedback: verdict?.feedback ?? '',
      ...(row.verification ? { verification: row.verification } : {}),
    };
  });
  return { sampleIds: rows.map((row) => row.id), turns };
}

/** A group member as the update sees it. */
export interface Member {
  trajectory: Trajectory;
  group: number;
  pass: boolean;
  passRate: number;
}

/**
 * SCoRe's examples (https://arxiv.org/abs/2409.12917): per attempt, the
 * stage's target reward (src/learn/score.ts; Stage II credits attempt 1 with
 * r1 and attempt 2 with r̂2 = r2 + α(r2 − r1): each turn its own reward, so
 * the bonus, which falls as r1 rises, never pushes the first attempt to be
 * wrong — crediting attempt 1 with the return r1 + r̂2 = (1 − α)·r1 + (1 + α)·r2
 * would, and measured so at α = 10, first-attempt accuracy fell from 26% to
 * 8%) normalised
 * within each group by the recipe's advantage estimator, attempt by attempt,
 * and the stage's KL coefficient for that attempt. Members with a missing
 * reward are left out; an attempt with no tokens trains nothing.
 */
export function selfCorrectionExamples(members: readonly Member[], settings: ScoreSettings, estimator: string, options: Record<string, unknown>): { examples: RlExample[]; absAdvantages: number[] } {
  const targets = members.map((m) => scoreTargets(m.trajectory, settings));
  const kept = members.map((m, index) => ({ m, index, target: targets[index] })).filter((entry): entry is { m: Member; index: number; target: NonNullable<(typeof targets)[number]> } => entry.target !== null);
  const examples: RlExample[] = [];
  const absAdvantages = new Array<number>(members.length).fill(0);
  for (const turn of [0, 1]) {
    const credit = kept.map(({ target }) => target.turns[turn].reward);
    const input: AdvantageInput = { rewards: credit, groups: kept.map(({ m }) => m.group), lengths: kept.map(({ m }) => m.trajectory.turns[turn].actionTokens.length) };
    // Stage I trains attempt 1 by its KL term alone (reward 0 everywhere: zero advantage).
    const { advantages } = computeAdvantages(estimator, input, options);
    kept.forEach(({ m, index, target }, i) => {
      absAdvantages[index] += Math.abs(advantages[i]) / 2;
      if (m.trajectory.turns[turn].actionTokens.length === 0) return;
      const { datum, behaviourLogprobs } = trajectoryDatum({ ...m.trajectory, turns: m.trajectory.turns.slice(0, turn + 1) }, [turn]);
      examples.push({ datum, oldLogprobs: behaviourLogprobs, advantage: advantages[i], pass: m.pass, passRate: m.passRate, klCoef: target.turns[turn].klCoefficient });
    });
  }
  return { examples, absAdvantages };
}
