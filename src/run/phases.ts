/**
 * Phases several methods share: sample n attempts per task from the policy
 * (each chunk of tasks one rollout of the single-turn environment, saved as
 * it finishes, so a killed run resamples only unfinished chunks) and score
 * every sample still unscored (a task's group together).
 */
import type { Task } from '../spec/task.js';
import type { LoopRun } from './context.js';
import { samplingEnvironment, samplingOptions, scoreUnscored } from './refine.js';
import { rollout } from '../rollout/rollout.js';
import { storeTrajectories } from './trajectories.js';
import { seedFor } from './seeds.js';

/** How a round samples: n attempts per task at a temperature (the round plan's settings). */
export interface RoundSampling {
  n: number;
  temperature: number;
}

/**
 * The sample and score phases of a round over its tasks, from the weights of
 * the round before. A chunk's rollout scores its samples with the tasks'
 * verifier as it draws them; a recipe's reward verifier (a judge, a vote)
 * scores in the score phase instead (samplingEnvironment says why). The
 * score phase scores whatever is unscored either way: those, the samples of
 * a run killed between saving a chunk and its scores, and those of stores an
 * older version wrote (sampled, not yet scored).
 */
export async function sampleAndScore(run: LoopRun, round: number, tasks: readonly Task[], settings: RoundSampling): Promise<void> {
  const { parts, policy, phase, useWeights } = run;
  const { recipe, store } = parts;
  const chunk = recipe.sample.chunk;
  const chunks = Math.ceil(tasks.length / chunk);
  await phase(round, 'sample', tasks.length, async (progress) => {
    await useWeights(round - 1);
    const done = new Set(store.loadSamples(round, 'sample').map((s) => s.taskId));
    const { environment, verifier } = samplingEnvironment(parts);
    for (let c = 0; c < chunks; c++) {
      const part = tasks.slice(c * chunk, (c + 1) * chunk);
      if (part.every((t) => done.has(t.id))) {
        progress(Math.min(tasks.length, (c + 1) * chunk));
        continue;
      }
      const sampling = samplingOptions(recipe, settings.n, settings.temperature, seedFor(recipe.seed, 'sample', round, c));
      // Text is all self-training needs (its SFT re-encodes the accepted text): a server that returns no token ids or logprobs can sample.
      const groups = await rollout(policy, environment, part, { sampling, tokenizer: parts.tokenizer, provenance: { round }, policyVersion: policy.version, needs: 'text' });
      storeTrajectories(store, groups.flat(), new Map(), { ...sampling }, verifier);
      progress(Math.min(tasks.length, (c + 1) * chunk));
    }
  });

  // score: the reward verifier's verdicts (a judge that is the policy itself reads the weights that sampled them), and anything a killed run left unscored.
  await phase(round, 'score', 0, async () => {
    if (parts.rewardVerifier) await useWeights(round - 1);
    await scoreUnscored(parts, round, new Map(tasks.map((t) => [t.id, t])));
  });
}
