/**
 * Recipes: a YAML file naming the parts of the loop and their settings. A
 * method of the literature is a choice of parts (STaR = verifier acceptance +
 * rationalization, ReST-EM = n samples capped per task, fine-tuned from the
 * base, Re-ReST = + a reflector, …). Unknown keys are errors that suggest the
 * nearest valid key; wrong types name the field and the expected type.
 */
import { z } from 'zod';
import { ModelConfigSchema } from '../engine/config.js';
import { RewardVerifierSchema } from './verifier-schema.js';
import { SecOptionsSchema } from '../controllers/sec.js';
import { LearnabilityOptionsSchema } from '../controllers/learnability.js';
import { BStarOptionsSchema } from '../controllers/b-star.js';
import { probability, positiveInt } from './numbers.js';
import { RlSchema } from './sections-rl.js';
import { SelfPlaySchema } from './sections-self-play.js';
import { SamplerSchema } from './sections-sampler.js';

/** The methods a recipe can run (src/run/methods/). */
export const METHOD_NAMES = ['self-training', 'policy-gradient', 'self-play', 'preference'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

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
    /** A built-in family (`addition`, `countdown`, `string`, `code`: JavaScript functions checked by unit tests in the sandbox) or a module path (`./my-family.js`, relative to the recipe) whose default export is a TaskFamily or a function of `options` returning one. */
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
    /** Draw each round's tasks from a fixed pool of this many tasks per difficulty, drawn once, so tasks recur across rounds (per-task controllers such as learnability need it); absent: fresh tasks every round. */
    pool: positiveInt.optional(),
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
  /** Self-Evolving Curriculum (https://arxiv.org/abs/2505.14970): a bandit over categories (`d<difficulty>`), rewarded by mean |advantage|. */
  SecOptionsSchema.extend({ kind: z.literal('sec') }).strict(),
]);

/** Controllers that set more of each round's plan after the curriculum (src/controllers/). */
const ControllerSchema = z.discriminatedUnion('kind', [
  /** Per-task weights p(1 − p) of recent solve rates within the curriculum's draws (needs tasks.pool). */
  LearnabilityOptionsSchema.extend({ kind: z.literal('learnability') }).strict(),
  /** B-STaR (https://arxiv.org/abs/2412.17256): the temperature and accept threshold with the best balance score on probe samples. */
  BStarOptionsSchema.extend({ kind: z.literal('b-star') }).strict(),
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
    /** Policy gradient only: weight of the supervised term on passing revisions (mean token cross-entropy) added to each step's update; default 0.1. */
    coef: z.number().nonnegative().optional(),
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


/**
 * Online iterative preference optimization (src/run/methods/preference.ts):
 * each round's verifier-ranked pairs — a passing and a failing attempt at one
 * task — train by a preference loss against a frozen reference instead of
 * sample → curate → fine-tune.
 */
const PreferenceSchema = z
  .object({
    /** Preference loss: dpo, ipo, simpo (src/learn/algorithms/preference.ts). */
    loss: z.string().default('dpo'),
    /** β of DPO and SimPO; τ of IPO. */
    beta: z.number().positive().default(0.1),
    /** cDPO's ε, the probability a label is flipped (dpo, simpo). */
    labelSmoothing: z.number().optional(),
    /** SimPO's target margin γ. */
    gamma: z.number().optional(),
    /** The frozen reference: `base` (the round-0 weights) or `previous` (the weights the round starts from, as iterative DPO and Iterative RPO do). */
    reference: z.enum(['base', 'previous']).default('base'),
    /** Weight of Iterative RPO's NLL term on the chosen completion (its mean token NLL); 0: off. */
    nllCoef: z.number().nonnegative().default(0),
    /** Pairs per task at most: distinct (chosen, rejected) combinations of its distinct passing and failing attempts, drawn seeded. */
    pairsPerTask: positiveInt.default(1),
    /** AdamW steps per round over the round's pairs (a fresh optimizer each round, from the weights of the round before). */
    steps: positiveInt.default(50),
    /** Pairs per step. */
    batchSize: positiveInt.default(16),
    learningRate: z.number().positive().default(1e-4),
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
    /** Also evaluate two greedy attempts per held-out task (the second after the self-correction instruction): `eval/correction/*` (acc_t1, acc_t2, delta, i_to_c, c_to_i). On by default with rl.selfCorrection. */
    twoAttempt: z.boolean().optional(),
  })
  .strict();


export const RecipeSchema = z
  .object({
    /** Recipe name: letters, digits, `.`, `_`, `+`, `-` (it names the run directory runs/<name>-seed<seed>, so it may hold no path). */
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'must start with a letter or digit and hold only letters, digits, `.`, `_`, `+` and `-` (it names the run directory runs/<name>-seed<seed>)'),
    /** What the method is, in a sentence. */
    description: z.string().default(''),
    /** The paper it implements (a link). */
    paper: z.string().optional(),
    /** The method each round runs (src/run/methods/): self-training, policy-gradient, self-play or preference; without it, the one the recipe's sections imply (src/recipe/method.ts). */
    method: z.enum(METHOD_NAMES).optional(),
    /** Seed of tasks, sampling, initialization and data order. */
    seed: z.number().int().default(0),
    /** Self-improvement rounds after the warm-up. */
    rounds: z.number().int().nonnegative(),
    model: ModelSchema.prefault({}),
    tasks: TasksSchema,
    curriculum: CurriculumSchema.prefault({ kind: 'fixed', difficulty: 1 }),
    /** More controllers, run in order after the curriculum each round: learnability, b-star. */
    controllers: z.array(ControllerSchema).default([]),
    warmup: WarmupSchema.optional(),
    sample: SampleSchema.prefault({}),
    accept: AcceptSchema.prefault({}),
    rationalize: RationalizeSchema.prefault({}),
    reflect: ReflectSchema.prefault({}),
    train: TrainSchema.prefault({}),
    /** Policy-gradient rounds (GRPO and kin) instead of sample → curate → fine-tune. */
    rl: RlSchema.optional(),
    /** Absolute Zero self-play rounds (propose → validate → solve, no task data) instead of sample → curate → fine-tune; `tasks` then only supplies the held-out evaluation. */
    selfplay: SelfPlaySchema.optional(),
    /** Online iterative DPO (and IPO, SimPO) rounds on verifier-ranked pairs instead of sample → curate → fine-tune. */
    preference: PreferenceSchema.optional(),
    /** What scores the samples the policy learns from: the tasks' own verifier (default), an LLM judge, or a majority vote (src/recipe/verifier-schema.ts). Held-out evaluation always uses the tasks' verifier. */
    verifier: RewardVerifierSchema.prefault({ kind: 'tasks' }),
    eval: EvalSchema.prefault({}),
    sampler: SamplerSchema.prefault({ kind: 'embedded' }),
  })
  .strict();


export type RecipeInput = z.input<typeof RecipeSchema>;
export type Recipe = z.output<typeof RecipeSchema>;

/** The difficulties a curriculum can ask for: a fixed one, easy-to-hard's start..max, or SEC's `d<difficulty>` categories. */
export function curriculumDifficulties(curriculum: Recipe['curriculum']): number[] {
  if (curriculum.kind === 'fixed') return [curriculum.difficulty];
  if (curriculum.kind === 'easy-to-hard') return Array.from({ length: Math.max(0, curriculum.max - curriculum.start + 1) }, (_, i) => curriculum.start + i);
  return curriculum.categories.flatMap((category) => {
    const match = /^d(-?\d+)$/.exec(category);
    return match ? [Number(match[1])] : [];
  });
}
