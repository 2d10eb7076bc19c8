import { z } from 'zod';
import { positiveInt } from './numbers.js';
import { updateFields } from './sections-update.js';

/** How each policy-gradient step collects its groups of completions. */
const RlSamplingSchema = z.discriminatedUnion('kind', [
  z
    .object({
      /** `sample.n` completions for each of `rl.promptsPerStep` prompts. */
      kind: z.literal('fixed'),
    })
    .strict(),
  z
    .object({
      /** DAPO dynamic sampling: groups whose completions all got the same reward are dropped and more prompts are sampled until the step has `rl.promptsPerStep` groups. */
      kind: z.literal('dapo'),
      /** Sampling calls per step at most (each of `rl.promptsPerStep` prompts); a step that still lacks groups trains on those it has. */
      maxBatches: positiveInt.default(4),
    })
    .strict(),
  z
    .object({
      /** Reinforce-Ada: each prompt is sampled in rounds until its exit condition holds or its rounds are spent; a group of `sample.n` is then drawn balanced from everything sampled, with baselines from all of it. */
      kind: z.literal('reinforce-ada'),
      /** `balance`: stop once a prompt has ⌊n/2⌋ passes and n − ⌊n/2⌋ fails (the paper's best). `mixed`: once it has a pass and a fail. `positive`: at the first pass. */
      exit: z.enum(['balance', 'mixed', 'positive']).default('balance'),
      /** Completions per active prompt per sampling round. */
      perRound: positiveInt.default(8),
      /** Sampling rounds per step at most (budget: maxRounds × perRound per prompt). */
      maxRounds: positiveInt.default(4),
    })
    .strict(),
]);

/**
 * SCoRe multi-turn self-correction (https://arxiv.org/abs/2409.12917): each
 * episode is two attempts (the task, then an instruction to correct it);
 * Stage I trains attempt 2 while a strong KL (β2) keeps attempt 1 near the
 * reference, Stage II adds the bonus α·(r2 − r1) to attempt 2's reward.
 */
const SelfCorrectionSchema = z
  .object({
    stage: z.union([z.literal(1), z.literal(2)]).default(2),
    /** β1: KL coefficient of attempt 2 (Stage I) and of both attempts (Stage II). */
    beta1: z.number().nonnegative().default(0.01),
    /** β2: Stage I's strong KL coefficient on attempt 1. */
    beta2: z.number().nonnegative().default(0.1),
    /** α: Stage II's self-correction bonus α·(r2 − r1). */
    alpha: z.number().nonnegative().default(10),
    /** The second turn's observation; `{prompt}` (and `{feedback}` with showFeedback) are filled in. Default: a short instruction to correct the answer, then the prompt again. */
    instruction: z.string().optional(),
    /** Show attempt 1's verifier feedback in the instruction (default: no, as SCoRe: intrinsic self-correction). */
    showFeedback: z.boolean().default(false),
  })
  .strict();

/** Reinforcement learning with verifiable rewards: the update is policy-gradient steps on fresh samples instead of fine-tuning on an accepted set. */
export const RlSchema = z
  .object({
    /** Policy-gradient steps per round; each samples fresh groups from the current weights. */
    steps: positiveInt.default(10),
    /** SCoRe: two-attempt episodes (attempt, self-correction instruction, attempt) trained with its stage's targets; absent: single-turn. */
    selfCorrection: SelfCorrectionSchema.optional(),
    /** Prompts (groups) per step; each step trains on promptsPerStep × sample.n completions. */
    promptsPerStep: positiveInt.default(16),
    /** Advantage estimator: grpo, dr-grpo, rloo, reinforce++, reinforce++-baseline, bnpo, self-critical, reinforce. */
    advantage: z.string().default('grpo'),
    advantageOptions: z
      .object({
        /** Added to a standard deviation before dividing by it. */
        epsilon: z.number().positive().optional(),
        /** `reinforce`: constant baseline subtracted from rewards. */
        baseline: z.number().optional(),
        /** `reinforce`: factor applied after the baseline (TOPR's ±1 rewards: baseline 0.5, scale 2). */
        scale: z.number().optional(),
      })
      .strict()
      .default({}),
    ...updateFields,
    sampling: RlSamplingSchema.prefault({ kind: 'fixed' }),
  })
  .strict();

/** The update settings of an RL round or a self-play round. */
export type UpdateSettings = Pick<z.output<typeof RlSchema>, keyof typeof updateFields>;
