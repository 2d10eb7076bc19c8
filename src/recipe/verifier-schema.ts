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
