import { z } from 'zod';
import { AGGREGATIONS } from '../learn/algorithms/losses.js';
import { positiveInt } from './numbers.js';

/** The policy-gradient update, shared by RL rounds and self-play: loss, aggregation, optimizer. */
export const updateFields = {
    /** Policy loss: pg, ppo-clip, topr, psr, nsr, w-reinforce, nft. */
    loss: z.string().default('ppo-clip'),
    lossOptions: z
      .object({
        /** ppo-clip: ρ ≥ 1 − clipLow. */
        clipLow: z.number().nonnegative().optional(),
        /** ppo-clip: ρ ≤ 1 + clipHigh (DAPO raises it to 0.28). */
        clipHigh: z.number().nonnegative().optional(),
        /** ppo-clip: dual-clip bound c > 1 for negative advantages (0: off). */
        dualClip: z
          .number()
          .refine((c) => c === 0 || c > 1, 'must be 0 (off) or greater than 1 (a bound below the unclipped ratio would zero every negative-advantage gradient)')
          .optional(),
        /** w-reinforce: weight of positive samples. */
        lambda: z.number().nonnegative().optional(),
        /** nft: floor of the implicit negative ratio inside the log (default 1). */
        nftClamp: z.number().positive().optional(),
      })
      .strict()
      .default({}),
    /** How per-token losses become the batch loss: token-mean (DAPO), seq-mean-token-mean (GRPO), seq-mean-token-sum, seq-mean-token-sum-norm (Dr. GRPO). */
    aggregation: z.enum(AGGREGATIONS).default('token-mean'),
    /** seq-mean-token-sum-norm's constant length (default sample.maxTokens). */
    normLength: positiveInt.optional(),
    /** Passes over each step's batch (PPO epochs; > 1 makes later passes off-policy, which the clipped ratio handles). */
    epochs: positiveInt.default(1),
    /** Optimizer steps per epoch: the batch is cut into this many minibatches. */
    minibatches: positiveInt.default(1),
    learningRate: z.number().positive().default(1e-3),
    /** AdamW moments (the defaults of PyTorch, TRL and verl). */
    adam: z
      .object({ beta1: z.number().min(0).lt(1).default(0.9), beta2: z.number().min(0).lt(1).default(0.999) })
      .strict()
      .prefault({}),
    weightDecay: z.number().nonnegative().default(0),
    gradClipNorm: z.number().positive().default(1),
    /** KL to a frozen reference (the round-0 weights). */
    kl: z
      .object({
        /** Estimator of the penalty: k1, k2 or k3. */
        penalty: z.string().default('k3'),
        /** Weight of the penalty in the loss (0: none). */
        coef: z.number().nonnegative().default(0),
        /** Report policy/kl (a forward pass of the reference per step) even when coef is 0. */
        track: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
};
