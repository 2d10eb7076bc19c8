/**
 * Self-training (STaR, https://arxiv.org/abs/2203.14465; ReST-EM,
 * https://arxiv.org/abs/2312.06585; Re-ReST, https://arxiv.org/abs/2406.01495;
 * majority-vote acceptance): a round samples n attempts per task, scores
 * them, refines failures (reflection, rationalization), accepts the useful
 * ones and fine-tunes on them —
 *
 *   sample → score → refine → curate → update
 *
 * Every phase reads its inputs from the run store and writes its outputs
 * there before it is marked done, so a run killed at any moment resumes at
 * the first unfinished phase (sampling saves each chunk of tasks as it
 * finishes). ReST-EM's "from the base each round" is `train.from: base`.
 */
import type { Task } from '../../spec/task.js';
import type { StoredSample } from '../../store/run-store.js';
import type { Method } from '../context.js';
import { fineTune } from '../../learn/steps.js';
import { completionOf, curate, trainingExample } from '../../learn/curate.js';
import { rationalize, reflect, scoreUnscored } from '../refine.js';
import { sampleAndScore } from '../phases.js';
import { seedFor } from '../seeds.js';
import { RunStoreError } from '../../errors.js';

export const selfTraining: Method = {
  name: 'self-training',
  drawsTasks: true,
  solvedBy: 'accepted',
  async round(run, round, tasks, plan) {
    const { parts, policy, phase, useWeights, saveWeights, labeled } = run;
    const { recipe, store, backend } = parts;
    const byId = new Map(tasks.map((t) => [t.id, t]));

    // sample and score: n attempts per task from the current policy, and the verifier's verdict and feedback on each.
    await sampleAndScore(run, round, tasks, plan.sampling);

    // refine: Re-ReST reflection on failures, STaR rationalization with the answer as a hint.
    await phase(round, 'refine', 0, async () => {
      if (!recipe.reflect.enabled && !recipe.rationalize.enabled) return;
      await useWeights(round - 1);
      const samples = store.loadSamples(round, 'sample');
      if (recipe.reflect.enabled) await reflect(parts, round, samples, byId, policy.version);
      if (recipe.rationalize.enabled) await rationalize(parts, policy, round, samples, byId);
      await scoreUnscored(parts, round, byId);
    });

    // curate: the accepted set (verifier or majority vote; capped per task, distinct first).
    await phase(round, 'curate', 0, async () => {
      const samples = store.loadSamples(round);
      const accepted = curate(recipe, tasks, samples, plan.acceptThreshold);
      store.saveAccepted(round, accepted);
    });

    // update: fine-tune on the accepted set (this round's or all so far), from the base or the last weights.
    await phase(round, 'update', recipe.train.steps, async (progress) => {
      await useWeights(recipe.train.from === 'base' ? 0 : round - 1);
      const ids = store.acceptedIds(recipe.train.data === 'all' ? 1 : round, round);
      const accepted = store.samplesById(ids);
      const tasksOf = new Map<number, Map<string, Task>>();
      const taskOf = (sample: StoredSample) => {
        if (!tasksOf.has(sample.round)) tasksOf.set(sample.round, new Map((store.loadTasks(sample.round, 'train') ?? []).map((t) => [t.id, t])));
        const task = tasksOf.get(sample.round)!.get(sample.taskId);
        if (!task) throw new RunStoreError(store.path, `accepted sample ${sample.id} names task ${sample.taskId}, missing from round ${sample.round}: the run store is inconsistent; start the run over with --fresh`);
        return task;
      };
      const examples = accepted.map((s) => trainingExample(recipe, s, taskOf(s), parts.tokenizer.eosId));
      if (recipe.train.includeLabeled) examples.push(...labeled.map((t) => ({ prompt: t.prompt, completion: completionOf(recipe, t) })));
      await fineTune(backend, parts.tokenizer, examples, { steps: recipe.train.steps, batchSize: recipe.train.batchSize, learningRate: recipe.train.learningRate, seed: seedFor(recipe.seed, 'train', round), onStep: (step) => progress(step + 1) });
      await saveWeights(round, `round-${round}`);
    });
  },
};
