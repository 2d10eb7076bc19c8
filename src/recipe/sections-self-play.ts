import { z } from 'zod';
import { positiveInt } from './numbers.js';
import { updateFields } from './sections-update.js';

/**
 * Absolute Zero self-play (Zhao et al. 2025): one policy proposes (program,
 * input) tasks of three types, an executor validates them, and the same policy
 * solves them; no task data. The update is a policy-gradient step with TRR++
 * advantages (rewards normalized per role × task type).
 */
export const SelfPlaySchema = z
  .object({
    /** Self-play steps per round; each proposes, validates, solves and updates once. */
    steps: positiveInt.default(20),
    /** Tasks per role and task type in a step (the paper's B): B proposals and B solves of each of the three types. */
    batch: positiveInt.default(16),
    /** Solver rollouts per valid proposal, whose solve rate gives the proposer its learnability reward. */
    rollouts: positiveInt.default(4),
    /** Buffer examples shown to the proposer of a deduction or abduction task (the paper's K). */
    references: z.number().int().nonnegative().default(3),
    /** How tasks are written: `expr` (integer expressions in x taken mod 10, compact prompts, for the embedded model) or `js` (JavaScript and instructions, for real models). */
    format: z.enum(['expr', 'js']).default('expr'),
    /** Limits of the format: maxProgramLength, inductionInputs; modulus, maxInput, maxOutput (expr); maxValueLength (js). */
    formatOptions: z.record(z.string(), z.number()).default({}),
    /** Rewards of failures (the reference code's): a proposal or answer that does not parse, a proposal the executor rejects, a valid task the solver always or never solves, a well-formed wrong answer. A right answer scores 1; a learnable task 1 − solve rate. */
    rewards: z
      .object({ formatError: z.number().default(-1), invalid: z.number().default(-1), unlearnable: z.number().default(-0.5), wrong: z.number().default(-0.5) })
      .strict()
      .prefault({}),
    /** A valid proposal already in its buffer: `keep` appends it again (the reference code), `skip` does not, `penalize` also scores it as unlearnable (a repeat teaches nothing new; keeps a small proposer from collapsing onto one task). */
    duplicates: z.enum(['keep', 'skip', 'penalize']).default('keep'),
    /** How many of a buffer's latest entries count when looking for repeats (default: all of it). With `inputs: random`, a repeat is a repeated program. */
    duplicateWindow: positiveInt.optional(),
    /** Tasks a buffer keeps at most (the oldest go first; the seed stays), as the reference code's max_programs. */
    maxBuffer: positiveInt.default(16384),
    /** Also train the solver on the learnability rollouts (the reference code only scores them). */
    trainRollouts: z.boolean().default(false),
    /** Who picks a deduction or abduction task's input: `proposer` (the paper) or `random` (the executor draws it uniformly and the proposer writes the program alone; a toy-scale stabilizer, `expr` only). */
    inputs: z.enum(['proposer', 'random']).default('proposer'),
    /** Sampling temperature of the proposer and of the solver. */
    temperature: z
      .object({ propose: z.number().nonnegative().default(1), solve: z.number().nonnegative().default(1) })
      .strict()
      .prefault({}),
    /** Added to each (role, type) standard deviation before dividing by it (TRR++). */
    epsilon: z.number().positive().default(1e-6),
    /** Before round 1, a fresh model learns the surface of the format's prompts from completions drawn at random (never a right answer except by chance). Only formats with a prior (`expr`); with `inputs: random` its proposals are programs alone. */
    formatPrior: z
      .object({
        steps: positiveInt,
        batchSize: positiveInt.default(64),
        learningRate: z.number().positive().default(3e-3),
        /** `format`: every completion at random. `executions`: a stand-in for a code-pretrained base — random programs, and deduction prompts answered with the executor's output for random programs (machine-made, no abduction or induction examples). */
        corpus: z.enum(['format', 'executions']).default('format'),
      })
      .strict()
      .optional(),
    ...updateFields,
  })
  .strict();
