/**
 * Phases several methods share: sample n attempts per task from the policy
 * (saved chunk by chunk, so a killed run resamples only unfinished chunks)
 * and score every unscored sample (a task's group together).
 */
import type { Task } from '../spec/task.js';
import type { LoopRun } from './context.js';
import { sampleRow, samplingOptions, scoreUnscored } from './refine.js';
import { seedFor } from './seeds.js';

/** How a round samples: n attempts per task at a temperature (the round plan's settings). */
export interface RoundSampling {
  n: number;
  temperature: number;
}

/** The sample and score phases of a round over its tasks, from the weights of the round before. */
export async function sampleAndScore(run: LoopRun, round: number, tasks: readonly Task[], settings: RoundSampling): Promise<void> {
  const { parts, policy, phase, useWeights } = run;
  const { recipe, store } = parts;
  const chunk = recipe.sample.chunk;
  const chunks = Math.ceil(tasks.length / chunk);
  await phase(round, 'sample', tasks.length, async (progress) => {
    await useWeights(round - 1);
    const done = new Set(store.loadSamples(round, 'sample').map((s) => s.taskId));
    for (let c = 0; c < chunks; c++) {
      const part = tasks.slice(c * chunk, (c + 1) * chunk);
      if (part.every((t) => done.has(t.id))) {
        progress(Math.min(tasks.length, (c + 1) * chunk));
        continue;
      }
      const sampling = samplingOptions(recipe, settings.n, settings.temperature, seedFor(recipe.seed, 'sample', round, c));
      const groups = await policy.sample(part.map((t) => t.prompt), sampling);
      store.saveSamples(part.flatMap((task, i) => groups[i].map((completion, j) => sampleRow(round, 'sample', task, j, task.prompt, completion, policy.version, sampling))));
      progress(Math.min(tasks.length, (c + 1) * chunk));
    }
  });

  // score: the verifier's verdict and feedback for every sample (a judge that is the policy itself reads the weights that sampled them).
  await phase(round, 'score', 0, async () => {
    if (parts.rewardVerifier) await useWeights(round - 1);
    await scoreUnscored(parts, round, new Map(tasks.map((t) => [t.id, t])));
  });
}
