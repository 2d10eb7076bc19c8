/**
 * The recipe's `verifier:` section: what scores the samples the policy learns
 * from. `tasks` (the default) is the task family's own verifier (labels);
 * `judge` is an LLM judge (the policy itself — self-rewarding — or a frozen
 * checkpoint); `majority-vote` rewards agreement with the majority answer of a
 * task's samples (label-free). Held-out evaluation always uses the task
 * family's verifier, so `eval/*` stays measured against real labels.
 *
 * (Kept apart from schema.ts so the section and its checks between fields
 * read in one place.)
 */
import { z } from 'zod';
import { InvalidConfigError } from '../errors.js';
import { rubricProblem } from '../verifiers/judge.js';
import type { Recipe } from './schema.js';

const probability = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

export const RewardVerifierSchema = z.discriminatedUnion('kind', [
  z
    .object({
      /** The task family's own verifier (the `tasks` section's), which also scores held-out evaluation. */
      kind: z.literal('tasks'),
    })
    .strict(),
  z
    .object({
      /** LLM-as-judge (src/verifiers/judge.ts): a policy scores each completion with a rubric. */
      kind: z.literal('judge'),
      /** `self`: the policy being trained judges its own samples (self-rewarding, SSR-Zero, sharpening). `{ checkpoint: dir }`: a frozen embedded model loaded from a checkpoint (relative to the recipe). */
      policy: z.union([z.literal('self'), z.object({ checkpoint: z.string().min(1) }).strict()]).default('self'),
      /** Prompt template with `{prompt}`, `{completion}`, `{reference}` (lines holding it are dropped for tasks without an answer), `{min}`, `{max}`; default a short impartial-judge rubric. */
      rubric: z.string().min(1).optional(),
      /** A numeric scale `{ min, max }` (reward (score − min)/(max − min)) or `yes-no` (YES = 1, NO = 0). */
      scale: z
        .union([
          z.literal('yes-no'),
          z
            .object({ min: z.number(), max: z.number() })
            .strict()
            .refine((s) => s.max > s.min, 'max must be above min'),
        ])
        .default({ min: 1, max: 10 }),
      /** Judge samples per completion; the reward is the mean of those that parse. */
      samples: positiveInt.default(1),
      /** Judge sampling temperature. */
      temperature: z.number().nonnegative().default(0),
      /** Judge tokens per sample. */
      maxTokens: positiveInt.default(256),
      /** Strings that end a judge sample. */
      stop: z.array(z.string().min(1)).default([]),
      /** A completion passes when its reward is at least this. */
      threshold: probability.default(0.5),
      /** Which score wins when a judge sample states several: `last` (judges conclude with it) or `first`. */
      pick: z.enum(['last', 'first']).default('last'),
      /** Show the judge the task's answer when it has one (false: reference-free judging, as SSR-Zero). */
      reference: z.boolean().default(true),
    })
    .strict(),
  z
    .object({
      /** Majority vote across a task's samples (src/verifiers/vote.ts, TTRL): 1 for the majority answer, 0 otherwise, no label for a group without a clear majority. Needs no labels. */
      kind: z.literal('majority-vote'),
      /** Share of a task's samples the winning answer needs. */
      minAgreement: probability.default(0.5),
      /** The answer follows the last occurrence of this marker (e.g. `>` after a scratchpad); default the whole completion. */
      answerMarker: z.string().optional(),
      /** Strings that end the answer, besides a newline and the `sample.stop` strings (e.g. `[";"]` when sampling runs on to EOS). */
      answerEnd: z.array(z.string().min(1)).default([]),
      /** How answers are compared: `exact`, `normalized` (case and spaces), `numeric` (`12` = `012` = `12.0`). */
      match: z.enum(['exact', 'normalized', 'numeric']).default('exact'),
    })
    .strict(),
]);

export type RewardVerifierConfig = z.output<typeof RewardVerifierSchema>;

/** Checks between `verifier` and the rest of the recipe; each error names the field and the fix. */
export function checkRewardVerifier(recipe: Recipe): void {
  const v = recipe.verifier;
  if (v.kind === 'tasks') return;
  if (recipe.selfplay) throw new InvalidConfigError('verifier', `self-play scores with its executor; remove \`verifier\` (kind ${v.kind}) from a self-play recipe`);
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
