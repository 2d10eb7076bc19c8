/**
 * Memory a recipe's run needs, estimated from its settings before anything is
 * allocated: a value that validates but cannot fit (`tasks.perRound:
 * 10000000`, `model.config.dModel: 65536`) is refused here, naming the field,
 * the estimate and the limit, instead of dying minutes later of a full heap.
 */
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { InvalidConfigError } from '../errors.js';
import { costliestModelField, engineFloats, formatBytes, MAX_TYPED_ARRAY_LENGTH, parameterCountOf, type ModelConfig } from '../engine/config.js';
import { curriculumDifficulties, type Recipe } from './schema.js';

/**
 * Rough JavaScript heap bytes of one task and of one sample per completion
 * token (its text, token ids and logprobs as JS values, and its row on the way
 * to the store); generous, since running out costs a run and refusing costs a
 * smaller setting.
 */
const TASK_BYTES = 1024;
const SAMPLE_BYTES = 1024;
const SAMPLE_BYTES_PER_TOKEN = 48;

/** The difficulties a run evaluates on (as run-loop's evalDifficulties, counted). */
function evalDifficultyCount(recipe: Recipe): number {
  if (recipe.eval.difficulties) return recipe.eval.difficulties.length;
  if (recipe.selfplay) return 3;
  const set = new Set<number>(recipe.warmup?.difficulties ?? []);
  for (const d of curriculumDifficulties(recipe.curriculum)) set.add(d);
  return set.size;
}

/**
 * What a round holds in the JavaScript heap at once, by the field that sets
 * each part: the round's tasks and samples (all of a round's samples are
 * scored together), the held-out set and its samples, the warm-up's labeled
 * tasks.
 */
function heapParts(recipe: Recipe): { field: string; bytes: number; what: string }[] {
  const sample = SAMPLE_BYTES + SAMPLE_BYTES_PER_TOKEN * recipe.sample.maxTokens;
  const rl = recipe.rl;
  const perPrompt = !rl ? recipe.sample.n : rl.sampling.kind === 'reinforce-ada' ? rl.sampling.perRound * rl.sampling.maxRounds : rl.sampling.kind === 'dapo' ? recipe.sample.n * rl.sampling.maxBatches : recipe.sample.n;
  const roundSamples = rl ? rl.steps * rl.promptsPerStep * perPrompt : recipe.tasks.perRound * recipe.sample.n * (1 + (recipe.reflect.enabled ? recipe.reflect.n * recipe.reflect.perTask : 0) + (recipe.rationalize.enabled ? recipe.rationalize.n : 0));
  const heldOut = recipe.eval.count * evalDifficultyCount(recipe);
  const warmup = recipe.warmup;
  const labeled = warmup ? (typeof warmup.count === 'number' ? warmup.count * warmup.difficulties.length : warmup.count.reduce((a, b) => a + b, 0)) : 0;
  return [
    { field: rl ? 'rl.promptsPerStep' : 'tasks.perRound', bytes: recipe.tasks.perRound * TASK_BYTES + roundSamples * sample, what: `${recipe.tasks.perRound} tasks and ${roundSamples} samples of up to sample.maxTokens = ${recipe.sample.maxTokens} tokens per round` },
    { field: 'eval.count', bytes: heldOut * (TASK_BYTES + Math.max(1, recipe.eval.n) * sample), what: `${heldOut} held-out tasks with ${recipe.eval.n > 1 ? `${recipe.eval.n} samples` : 'one sample'} each` },
    { field: 'warmup.count', bytes: labeled * TASK_BYTES, what: `${labeled} labeled tasks` },
  ];
}

/**
 * Refuses a recipe whose run would not fit in memory: a round's tasks and
 * samples in the V8 heap, and the engines' buffers of a fresh `model`
 * (resolved; a checkpoint's shape is checked when the engine reads it) in the
 * machine's memory.
 */
export function checkRecipeMemory(recipe: Recipe, model: ModelConfig | undefined): void {
  const parts = heapParts(recipe);
  const heap = parts.reduce((sum, part) => sum + part.bytes, 0);
  const heapLimit = getHeapStatistics().heap_size_limit;
  if (heap > heapLimit) {
    const largest = parts.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    throw new InvalidConfigError(
      largest.field,
      `${largest.what} need about ${formatBytes(largest.bytes)} of JavaScript heap (estimate; ${formatBytes(heap)} in all), above this process's V8 heap limit of ${formatBytes(heapLimit)}; lower ${largest.field}${largest.field === 'eval.count' ? ' or eval.n' : largest.field === 'warmup.count' ? '' : ', sample.n or sample.maxTokens'} (or raise the limit: NODE_OPTIONS=--max-old-space-size=<MB>)`,
    );
  }
  if (!model) return;
  const update = recipe.rl ?? recipe.selfplay;
  const trainRows = Math.max(recipe.train.batchSize, recipe.warmup?.batchSize ?? 0, recipe.selfplay?.formatPrior?.batchSize ?? 0, recipe.rl ? Math.ceil((recipe.rl.promptsPerStep * recipe.sample.n) / recipe.rl.minibatches) : 0);
  const sampleSlots = Math.max(recipe.sample.chunk, recipe.rl?.promptsPerStep ?? 0) * Math.max(recipe.sample.n, recipe.eval.n);
  // Batches are as long as their longest sequence, which holds at least a completion: a lower bound, so only sure failures are refused.
  const length = Math.min(model.maxSeqLen, recipe.sample.maxTokens);
  const floats = engineFloats(model, { trainRows, sampleSlots, length });
  const engines = update && (update.kl.coef > 0 || update.kl.track) ? 2 : 1; // RL and self-play keep a frozen reference engine
  const bytes = 4 * floats.total * engines;
  const batchField = recipe.rl ? 'rl.promptsPerStep' : recipe.warmup && recipe.warmup.batchSize > recipe.train.batchSize ? 'warmup.batchSize' : 'train.batchSize';
  if (floats.largest > MAX_TYPED_ARRAY_LENGTH) {
    throw new InvalidConfigError(batchField, `${trainRows} training sequences of at least ${length} tokens (sample.maxTokens) need an activation buffer of at least ${formatBytes(4 * floats.largest)}, more than one Float32Array holds (${formatBytes(4 * MAX_TYPED_ARRAY_LENGTH)}); lower ${batchField} or sample.maxTokens`);
  }
  if (bytes > totalmem()) {
    // Name what dominates: the weights and their optimizer state, or the activations of a batch.
    const field = 16 * parameterCountOf(model) * engines > bytes / 2 ? `model.config.${costliestModelField(recipe.model.config ?? {}, 'model.config')}` : batchField;
    throw new InvalidConfigError(
      field,
      `the model (model.config) trained on ${trainRows} sequences of at least ${length} tokens at a time${engines > 1 ? ', with its frozen reference engine,' : ''} needs about ${formatBytes(bytes)} (estimate), more than this machine's ${formatBytes(totalmem())} of memory; lower ${field === batchField ? `${batchField} or sample.maxTokens` : 'it'}`,
    );
  }
}
