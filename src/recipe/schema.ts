/**
 * Recipes: a YAML file naming the parts of the loop and their settings. A
 * method of the literature is a choice of parts (STaR = verifier acceptance +
 * rationalization, ReST-EM = n samples capped per task, fine-tuned from the
 * base, Re-ReST = + a reflector, …). Unknown keys are errors that suggest the
 * nearest valid key; wrong types name the field and the expected type.
 */
import { z } from 'zod';
import { ModelConfigSchema } from '../engine/config.js';

const probability = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

/** Where the policy starts: a fresh embedded model of a config, or a checkpoint directory. */
const ModelSchema = z
  .object({
    /** Checkpoint directory to start from (relative to the recipe file). Wins over `config`. */
    checkpoint: z.string().optional(),
    /** Config of a fresh embedded model (random weights). */
    config: ModelConfigSchema.optional(),
  })
  .strict();

/** Where tasks come from and how they are checked. */
const TasksSchema = z
  .object({
    /** A built-in family (`addition`, `countdown`, `string`) or a module path (`./my-family.js`, relative to the recipe) whose default export is a TaskFamily or a function of `options` returning one. */
    family: z.string().min(1).optional(),
    /** Options of the family (e.g. `{ format: reversed }` for addition). */
    options: z.record(z.string(), z.unknown()).default({}),
    /** A JSONL task file (relative to the recipe) instead of a family; checked with `verifier`. */
    file: z.string().optional(),
    /** Verifier of file tasks: `exact`, `normalized` (case and spaces) or `numeric` match. */
    verifier: z.enum(['exact', 'normalized', 'numeric']).default('exact'),
    /** Where a file task's final answer starts (e.g. `>`); default the whole completion. */
    answerMarker: z.string().optional(),
    /** Whether verifier feedback may state the expected answer. */
    revealAnswer: z.boolean().default(false),
    /** Tasks per round. */
    perRound: positiveInt.default(256),
  })
  .strict();

/** Which difficulty each round works on. */
const CurriculumSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('fixed'),
      /** Difficulty of every round's tasks. */
      difficulty: z.number().int().default(1),
    })
    .strict(),
  z
    .object({
      /** Easy to hard: stay at a difficulty until the policy masters it, then move one up. */
      kind: z.literal('easy-to-hard'),
      /** Difficulty of the first round. */
      start: z.number().int(),
      /** Hardest difficulty it moves to. */
      max: z.number().int(),
      /** Move up once this share of a round's tasks at the frontier had an accepted attempt. */
      promoteAt: probability.default(0.6),
      /** Share of each round's tasks drawn from easier difficulties (review, against forgetting). */
      review: probability.default(0.25),
    })
    .strict(),
]);

/** Supervised warm-up on labeled tasks before round 1 (the SFT baseline). */
const WarmupSchema = z
  .object({
    /** Labeled tasks per difficulty: one number for all, or a list with one count per entry of `difficulties`. */
    count: z.union([positiveInt, z.array(positiveInt).min(1)]),
    /** Difficulties of the labeled tasks. */
    difficulties: z.array(z.number().int()).min(1),
    steps: positiveInt,
    batchSize: positiveInt.default(64),
    learningRate: z.number().positive().default(3e-3),
    /** Share of labeled tasks also taught as reflections (a wrong attempt, its feedback, the fix), so the policy can serve as its own reflector. */
    reflectionShare: probability.default(0),
    /** Share of labeled tasks also taught with the answer as a hint, so STaR rationalization has a format to use. */
    hintShare: probability.default(0),
  })
  .strict();

/** How attempts are sampled each round. */
const SampleSchema = z
  .object({
    /** Attempts per task. */
    n: positiveInt.default(4),
    temperature: z.number().nonnegative().default(0.7),
    topP: z.number().gt(0).max(1).default(1),
    maxTokens: positiveInt.default(64),
    /** Strings that end an answer. */
    stop: z.array(z.string().min(1)).default([]),
    /** Tasks per sampling call; each finished chunk is saved at once (the unit a killed run can lose). */
    chunk: positiveInt.default(32),
  })
  .strict();

/** Which attempts join the training set. */
const AcceptSchema = z
  .object({
    /** `verifier`: attempts the verifier passes. `majority`: attempts whose answer won a majority vote among the task's samples (no labels needed). */
    by: z.enum(['verifier', 'majority']).default('verifier'),
    /** Accepted attempts per task at most (ReST-EM's cap; distinct completions first). */
    capPerTask: positiveInt.default(1),
    /** Majority vote: share of a task's samples that must agree. */
    minAgreement: probability.default(0.5),
    /** Majority vote: the answer follows the last occurrence of this marker (e.g. `>` after a scratchpad); default the whole completion. */
    answerMarker: z.string().optional(),
  })
  .strict();

/** STaR rationalization: failed tasks are tried again with the answer as a hint; passing rationales train without the hint. */
const RationalizeSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Prompt with the hint; `{prompt}` and `{answer}` are filled in. */
    template: z.string().default('{answer}|{prompt}'),
    n: positiveInt.default(1),
    temperature: z.number().nonnegative().default(0.7),
  })
  .strict();

/** Re-ReST reflection: a reflector rewrites failed attempts using the verifier's feedback; revisions are re-verified. */
const ReflectSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Reflection prompt; `{prompt}`, `{attempt}` and `{feedback}` are filled in. The reflector is the policy itself. */
    template: z.string().default('{prompt}{attempt}|{feedback}|{prompt}'),
    /** Revisions per failed attempt. */
    n: positiveInt.default(1),
    temperature: z.number().nonnegative().default(0.7),
    /** Failed attempts reflected on per task at most. */
    perTask: positiveInt.default(1),
  })
  .strict();

/** The update: supervised fine-tuning on the accepted set. */
const TrainSchema = z
  .object({
    steps: positiveInt.default(100),
    batchSize: positiveInt.default(64),
    learningRate: z.number().positive().default(1e-3),
    /** `previous`: continue from the last round's weights. `base`: restart from the round-0 weights each round (ReST-EM). */
    from: z.enum(['previous', 'base']).default('previous'),
    /** `round`: train on this round's accepted set. `all`: on everything accepted so far. */
    data: z.enum(['round', 'all']).default('all'),
    /** Also train on the warm-up's labeled examples (against forgetting). */
    includeLabeled: z.boolean().default(true),
  })
  .strict();

/** Held-out evaluation after the warm-up and after every round. */
const EvalSchema = z
  .object({
    /** Held-out tasks per difficulty. */
    count: positiveInt.default(100),
    /** Difficulties to report; default the curriculum's range. */
    difficulties: z.array(z.number().int()).optional(),
    /** Samples per task for pass@k (0: greedy accuracy only). */
    n: z.number().int().nonnegative().default(0),
    /** pass@k values reported when n > 0. */
    k: z.array(positiveInt).default([1]),
    temperature: z.number().nonnegative().default(1),
  })
  .strict();

export const RecipeSchema = z
  .object({
    /** Recipe name (used for the run directory). */
    name: z.string().min(1),
    /** What the method is, in a sentence. */
    description: z.string().default(''),
    /** The paper it implements (a link). */
    paper: z.string().optional(),
    /** Seed of tasks, sampling, initialization and data order. */
    seed: z.number().int().default(0),
    /** Self-improvement rounds after the warm-up. */
    rounds: z.number().int().nonnegative(),
    model: ModelSchema.prefault({}),
    tasks: TasksSchema,
    curriculum: CurriculumSchema.prefault({ kind: 'fixed', difficulty: 1 }),
    warmup: WarmupSchema.optional(),
    sample: SampleSchema.prefault({}),
    accept: AcceptSchema.prefault({}),
    rationalize: RationalizeSchema.prefault({}),
    reflect: ReflectSchema.prefault({}),
    train: TrainSchema.prefault({}),
    eval: EvalSchema.prefault({}),
  })
  .strict();

export type RecipeInput = z.input<typeof RecipeSchema>;
export type Recipe = z.output<typeof RecipeSchema>;
