/**
 * Loading recipes: YAML → `--set` overrides → zod validation → the checks
 * between fields. Every problem is an InvalidConfigError naming the field.
 */
import { readFileSync } from 'node:fs';
import { parse, YAMLParseError } from 'yaml';
import { InvalidConfigError, RecipeFileError } from '../errors.js';
import { parseConfig } from '../config/validate.js';
import { RecipeSchema, type Recipe } from './schema.js';
import { rubricProblem } from '../verifiers/judge.js';
import { checkOpenAIPolicyConfig } from '../policies/openai-config.js';
import { advantageEstimators } from '../learn/algorithms/advantages.js';
import { klPenalties, policyLosses } from '../learn/algorithms/losses.js';
import { preferenceLosses, preferenceLossFunction } from '../learn/algorithms/preference.js';
import { resolveModelConfig, type ModelConfig, type ModelConfigInput } from '../engine/config.js';
import { checkRecipeMemory } from './memory.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { unknownPlaceholder } from '../config/template.js';
import { checkMethod } from './method.js';
import { TASK_TYPES } from '../selfplay/formats.js';

/** Keys that reach an object's prototype instead of a field of its own; no recipe has them. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** Applies `path.to.key=value` overrides; values are read as YAML (`3`, `true`, `[1, 4]`, `text`). */
export function applyOverrides(raw: Record<string, unknown>, overrides: readonly string[]): Record<string, unknown> {
  const result = structuredClone(raw);
  for (const override of overrides) {
    const at = override.indexOf('=');
    if (at <= 0) throw new InvalidConfigError(override, 'a --set override is path.to.key=value, e.g. --set train.steps=200');
    const field = override.slice(0, at);
    const path = field.split('.');
    if (path.includes('')) throw new InvalidConfigError(field, 'has an empty key; a --set override is path.to.key=value, e.g. --set train.steps=200');
    const reserved = path.find((key) => PROTOTYPE_KEYS.has(key));
    if (reserved) throw new InvalidConfigError(field, `\`${reserved}\` is not a recipe key; a --set override names a recipe field, e.g. --set train.steps=200`);
    const text = override.slice(at + 1);
    let value: unknown;
    try {
      value = parse(text);
    } catch {
      value = text;
    }
    let node: Record<string, unknown> = result;
    for (const key of path.slice(0, -1)) {
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
      if (next === undefined || next === null) node[key] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) throw new InvalidConfigError(field, `cannot set a key inside \`${key}\`, which is ${Array.isArray(next) ? 'an array' : typeof next}`);
      node = node[key] as Record<string, unknown>;
    }
    node[path.at(-1)!] = value;
  }
  return result;
}

/**
 * The placeholders each recipe template gets, as the loop fills them
 * (fillTemplate's callers): reflect.template in loop/reflect.ts
 * (reflectionPrompt) and loop/curate.ts; rationalize.template in
 * run/loop.ts and learn/curate.ts. The judge's verifier.rubric is checked
 * by rubricProblem (verifiers/judge.ts).
 */
export const TEMPLATE_PLACEHOLDERS = {
  'reflect.template': ['prompt', 'attempt', 'feedback'],
  'rationalize.template': ['prompt', 'answer'],
} as const;

/** Every template field uses only the placeholders its site fills; a typo (`{answr}`) is an InvalidConfigError naming the field, the placeholder and the valid ones. */
function checkTemplates(recipe: Recipe): void {
  const templates: Record<keyof typeof TEMPLATE_PLACEHOLDERS, string> = { 'reflect.template': recipe.reflect.template, 'rationalize.template': recipe.rationalize.template };
  for (const [field, template] of Object.entries(templates) as [keyof typeof TEMPLATE_PLACEHOLDERS, string][]) {
    const problem = unknownPlaceholder(template, TEMPLATE_PLACEHOLDERS[field]);
    if (problem) throw new InvalidConfigError(field, problem);
  }
}

/** Validates a recipe object (already parsed from YAML, overrides applied). */
export function validateRecipe(raw: unknown): Recipe {
  const recipe = parseConfig(RecipeSchema, raw);
  const model = checkModelConfig(recipe.model.config ?? {});
  checkTemplates(recipe);
  recipe.method = checkMethod(recipe, raw as Record<string, unknown>);
  const c = recipe.curriculum;
  if (c.kind === 'easy-to-hard' && c.max < c.start) throw new InvalidConfigError('curriculum.max', `${c.max} is below curriculum.start = ${c.start}; set max ≥ start`);
  // Self-play's SEC categories are task types (checkControllers).
  if (c.kind === 'sec' && !recipe.selfplay) {
    const other = c.categories.find((category) => !/^d-?\d+$/.test(category));
    if (other !== undefined) throw new InvalidConfigError('curriculum.categories', `names "${other}", but task sources draw by difficulty; name each category d<difficulty> (e.g. [d1, d2, d3])`);
  }
  checkControllers(recipe);
  if (recipe.rl?.selfCorrection) {
    if (recipe.verifier.kind !== 'tasks') throw new InvalidConfigError('rl.selfCorrection', `scores each attempt on its own, but verifier.kind ${recipe.verifier.kind} scores whole groups or asks a judge; use verifier.kind: tasks`);
    if (recipe.reflect.enabled) throw new InvalidConfigError('reflect.enabled', 'and rl.selfCorrection both revise failed attempts; SCoRe\'s second attempt is the revision. Remove one');
  }
  if (recipe.reflect.coef !== undefined && !recipe.rl) throw new InvalidConfigError('reflect.coef', `weights the revisions' supervised term in policy-gradient steps; a ${recipe.selfplay ? 'self-play' : 'self-training'} recipe trains revisions as accepted data instead. Remove it`);
  if (recipe.warmup && Array.isArray(recipe.warmup.count) && recipe.warmup.count.length !== recipe.warmup.difficulties.length) {
    throw new InvalidConfigError('warmup.count', `lists ${recipe.warmup.count.length} counts for ${recipe.warmup.difficulties.length} difficulties; give one count per difficulty, or a single number`);
  }
  if (recipe.warmup?.correctionShare && !recipe.rl?.selfCorrection && !recipe.eval.twoAttempt) {
    throw new InvalidConfigError('warmup.correctionShare', 'teaches the two-attempt format, which only SCoRe (rl.selfCorrection) and eval.twoAttempt use; set one of them, or remove warmup.correctionShare');
  }
  if (recipe.accept.by === 'majority' && (recipe.reflect.enabled || recipe.rationalize.enabled)) {
    throw new InvalidConfigError(recipe.reflect.enabled ? 'reflect.enabled' : 'rationalize.enabled', 'needs verifier feedback or answers, but accept.by is majority (no labels); set accept.by: verifier or disable it');
  }
  if (recipe.rl) {
    // Registry names: an unknown one lists the valid ones.
    advantageEstimators.get(recipe.rl.advantage);
    policyLosses.get(recipe.rl.loss);
    klPenalties.get(recipe.rl.kl.penalty);
    if (recipe.rl.sampling.kind === 'reinforce-ada' && recipe.rl.sampling.perRound * recipe.rl.sampling.maxRounds < recipe.sample.n) {
      throw new InvalidConfigError('rl.sampling.maxRounds', `× perRound = ${recipe.rl.sampling.perRound * recipe.rl.sampling.maxRounds} completions per prompt at most, fewer than a group of sample.n = ${recipe.sample.n}`);
    }
  }
  if (recipe.selfplay) {
    policyLosses.get(recipe.selfplay.loss, 'selfplay.loss');
    klPenalties.get(recipe.selfplay.kl.penalty, 'selfplay.kl.penalty');
    if (recipe.tasks.family !== 'programs') throw new InvalidConfigError('tasks.family', `must be \`programs\` for self-play (its held-out programs are the evaluation and its executor checks the tasks), got ${recipe.tasks.family ?? 'a task file'}`);
    if (recipe.selfplay.formatPrior && recipe.selfplay.format !== 'expr') throw new InvalidConfigError('selfplay.formatPrior', `the ${recipe.selfplay.format} format has no format prior (it is for real models, which know how to write code); remove formatPrior`);
    if (recipe.selfplay.inputs === 'random' && recipe.selfplay.format !== 'expr') throw new InvalidConfigError('selfplay.inputs', `random inputs need a format whose inputs can be drawn (expr), not ${recipe.selfplay.format}; use inputs: proposer`);
  }
  checkPreference(recipe, raw as Record<string, unknown>);
  const sampler = recipe.sampler;
  if (sampler.kind === 'openai') checkOpenAIPolicyConfig(sampler);
  if (sampler.kind === 'openai' && (recipe.rl || recipe.selfplay)) {
    // Policy gradients train on the sampled token ids, drawn by the weights being trained.
    const section = recipe.rl ? 'rl' : 'selfplay';
    if (!sampler.reload) throw new InvalidConfigError('sampler.reload', `must be true with \`${section}\`: policy-gradient steps need samples from the weights they update`);
    if (!sampler.logprobs || !sampler.tokenIds) throw new InvalidConfigError(sampler.logprobs ? 'sampler.tokenIds' : 'sampler.logprobs', `must be true with \`${section}\`: policy-gradient steps train on the sampled token ids`);
  }
  checkRewardVerifier(recipe);
  if (recipe.eval.n > 0) {
    const tooLarge = recipe.eval.k.find((k) => k > recipe.eval.n);
    if (tooLarge !== undefined) throw new InvalidConfigError('eval.k', `pass@${tooLarge} needs at least ${tooLarge} samples per task, but eval.n = ${recipe.eval.n}`);
  }
  checkRecipeMemory(recipe, recipe.model.checkpoint ? undefined : model);
  return recipe;
}

/**
 * The checks of a `preference:` recipe (src/run/methods/preference.ts; which
 * sections it reads is checkMethod's, src/recipe/method.ts): pairs need several samples
 * per task; the loss's own settings (the registry's checks); and the sampled
 * token ids, which pairs train on. `raw` tells the sections the recipe wrote
 * from those it got by default.
 */
function checkPreference(recipe: Recipe, raw: Record<string, unknown>): void {
  const preference = recipe.preference;
  if (!preference) return;
  if (recipe.reflect.enabled) throw new InvalidConfigError('reflect.enabled', 'is a self-training step; a preference recipe pairs the policy\'s own attempts instead. Remove it');
  if (recipe.sample.n < 2) throw new InvalidConfigError('sample.n', `is ${recipe.sample.n}, and a preference pair is a passing and a failing attempt at one task; set sample.n ≥ 2 (e.g. 4)`);
  const loss = preferenceLosses.get(preference.loss);
  // The registry's own checks of β, ε and γ (and which losses read them), on an empty batch of pairs.
  preferenceLossFunction({ loss: preference.loss, beta: preference.beta, labelSmoothing: preference.labelSmoothing, gamma: preference.gamma }, loss.needsReference ? [] : undefined);
  if (!loss.needsReference && (raw.preference as Record<string, unknown>).reference !== undefined) throw new InvalidConfigError('preference.reference', `the ${preference.loss} loss is reference-free and reads no reference; remove preference.reference`);
  if (recipe.sampler.kind === 'openai' && !recipe.sampler.tokenIds) throw new InvalidConfigError('sampler.tokenIds', 'must be true with `preference`: pairs train on the sampled token ids');
}

/**
 * The checks between model-config fields (the engine repeats them when it
 * starts), named by their recipe path, and a vocabulary that holds the byte
 * tokenizer's ids: a recipe's fresh model reads and writes bytes.
 */
function checkModelConfig(input: ModelConfigInput): ModelConfig {
  const config = resolveModelConfig(input, 'model.config');
  const tokenizer = new ByteTokenizer();
  if (config.vocabSize < tokenizer.vocabSize) {
    throw new InvalidConfigError('model.config.vocabSize', `${config.vocabSize} is below the ${tokenizer.vocabSize} token ids of the byte tokenizer (256 bytes, BOS, EOS, padding) a recipe's model uses; set vocabSize ≥ ${tokenizer.vocabSize}`);
  }
  return config;
}

/** Reads, overrides and validates a recipe file. */
export function loadRecipe(path: string, overrides: readonly string[] = []): Recipe {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RecipeFileError(path, `cannot read the recipe (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const at = error.linePos ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}` : 'an unknown line';
      throw new RecipeFileError(path, `YAML syntax error at ${at}: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    // The parser refuses what it cannot turn into data, e.g. an alias bomb ("Excessive alias count …").
    throw new RecipeFileError(path, `cannot read the YAML: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RecipeFileError(path, 'a recipe is a YAML mapping (name: …, rounds: …, tasks: …)');
  return validateRecipe(applyOverrides(raw as Record<string, unknown>, overrides));
}

/**
 * Controllers need what they read: learnability a recurring task pool. Self-play
 * rounds are planned over its task types (SEC's arms: deduction, abduction,
 * induction; the plan's temperature is the solver's); controllers that read
 * drawn tasks (learnability's per-task weights, B-STaR's probes of the task
 * source, easy-to-hard's difficulties) have nothing to read there.
 */
function checkControllers(recipe: Recipe): void {
  recipe.controllers.forEach((controller, i) => {
    if (recipe.selfplay && controller.kind === 'learnability') throw new InvalidConfigError(`controllers.${i}.kind`, 'learnability weights recurring tasks by their solve rates, but self-play\'s tasks are its own proposals (its proposer already earns learnability); remove it');
    if (recipe.selfplay && controller.kind === 'b-star') throw new InvalidConfigError(`controllers.${i}.kind`, 'b-star probes tasks drawn from the task source and sets an accept threshold, but self-play solves its own proposals and accepts nothing; remove it and set selfplay.temperature.solve (or curriculum.kind: sec over the task types)');
    if (controller.kind === 'learnability' && recipe.tasks.pool === undefined) throw new InvalidConfigError(`controllers.${i}.kind`, 'learnability weights tasks by their solve rates in earlier rounds, which needs tasks that recur: set tasks.pool (tasks per difficulty, drawn once)');
  });
  const kinds = recipe.controllers.map((controller) => controller.kind);
  const twice = kinds.find((kind, i) => kinds.indexOf(kind) !== i);
  if (twice !== undefined) throw new InvalidConfigError('controllers', `lists ${twice} twice; each controller keeps one state per run, so list it once`);
  if (recipe.selfplay && recipe.curriculum.kind === 'easy-to-hard') throw new InvalidConfigError('curriculum.kind', 'easy-to-hard orders difficulties, but self-play\'s solve tasks come in task types with no order; use curriculum.kind: sec with categories [deduction, abduction, induction], or remove the curriculum section');
  if (recipe.selfplay && recipe.curriculum.kind === 'sec') {
    const other = recipe.curriculum.categories.find((category) => !(TASK_TYPES as readonly string[]).includes(category));
    if (other !== undefined) throw new InvalidConfigError('curriculum.categories', `"${other}" is not a self-play task type; SEC's arms in self-play are task types, a subset of [${TASK_TYPES.join(', ')}]`);
  }
}

/** Checks between `verifier` and the rest of the recipe; each error names the field and the fix. */
export function checkRewardVerifier(recipe: Recipe): void {
  const v = recipe.verifier;
  if (v.kind === 'tasks') return;
  if (recipe.accept.by === 'majority') throw new InvalidConfigError('accept.by', `majority votes on its own and ignores \`verifier\` (kind ${v.kind}); use accept.by: verifier, or remove \`verifier\``);
  if (v.kind === 'judge') {
    const problem = v.rubric !== undefined ? rubricProblem(v.rubric) : null;
    if (problem) throw new InvalidConfigError('verifier.rubric', problem);
    if (v.samples > 1 && v.temperature === 0) throw new InvalidConfigError('verifier.temperature', `is 0, so the ${v.samples} judge samples would be identical; set verifier.temperature > 0 or verifier.samples: 1`);
    return;
  }
  // majority-vote
  if (recipe.sample.n < 2) throw new InvalidConfigError('sample.n', 'is 1, and a lone sample always agrees with itself; majority vote needs several samples per task (e.g. sample.n: 8)');
  if (recipe.reflect.enabled) throw new InvalidConfigError('reflect.enabled', 'needs feedback on what is wrong, but majority-vote only says whether an answer agrees with the others; disable reflect or use another verifier');
  if (recipe.rationalize.enabled) throw new InvalidConfigError('rationalize.enabled', 'hints the task\'s answer (a label) to the policy, but majority-vote is label-free; disable rationalize or use another verifier');
  // Reinforce-Ada votes per sampling round (vote.ts): a round of one sample always agrees with itself and pays 1.
  const sampling = recipe.rl?.sampling;
  if (sampling?.kind === 'reinforce-ada' && sampling.perRound < 2) throw new InvalidConfigError('rl.sampling.perRound', `is ${sampling.perRound}, and each Reinforce-Ada round votes on its own: a lone sample always agrees with itself, so majority vote would pay 1 to every sample; set rl.sampling.perRound ≥ 2 (e.g. 8)`);
  if (recipe.rl?.advantage === 'self-critical') throw new InvalidConfigError('rl.advantage', 'self-critical scores one greedy completion per task as the baseline, and a lone completion has no group to vote with; use grpo, rloo or dr-grpo with majority-vote');
}
