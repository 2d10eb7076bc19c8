/**
 * Recipes: a YAML file naming the parts of the loop and their settings. A
 * method of the literature is a choice of parts (STaR = verifier acceptance +
 * rationalization, ReST-EM = n samples capped per task, fine-tuned from the
 * base, Re-ReST = + a reflector, …). Unknown keys are errors that suggest the
 * nearest valid key; wrong types name the field and the expected type.
 */
import { z } from 'zod';
import { OpenAIPolicyConfigSchema } from '../policies/openai-config.js';
import { ModelConfigSchema } from '../engine/config.js';
import { AGGREGATIONS } from '../learn/algorithms/losses.js';
import { RewardVerifierSchema } from './verifier-schema.js';

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

/** The policy-gradient update, shared by RL rounds and self-play: loss, aggregation, optimizer. */
const updateFields = {
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

/** Reinforcement learning with verifiable rewards: the update is policy-gradient steps on fresh samples instead of fine-tuning on an accepted set. */
const RlSchema = z
  .object({
    /** Policy-gradient steps per round; each samples fresh groups from the current weights. */
    steps: positiveInt.default(10),
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

/**
 * Absolute Zero self-play (Zhao et al. 2025): one policy proposes (program,
 * input) tasks of three types, an executor validates them, and the same policy
 * solves them; no task data. The update is a policy-gradient step with TRR++
 * advantages (rewards normalized per role × task type).
 */
const SelfPlaySchema = z
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
  })
  .strict();

/**
 * Where the loop's samples come from. `embedded` (default): the training
 * engine's own KV-cached sampler. `llamacpp`: llama.cpp through node-llama-cpp,
 * loading each checkpoint the loop writes as GGUF. `openai`: an OpenAI-compatible server
 * (`autodidact serve`, or another server with SGLang's `/update_weights_from_disk`; only
 * `autodidact serve` is tested) while
 * training stays embedded: with `reload`, the loop writes each new weights'
 * checkpoint and asks the server to load it (`POST /update_weights_from_disk`)
 * before sampling again, and checks every reply's version.
 */
const SamplerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('embedded') }).strict(),
  OpenAIPolicyConfigSchema.omit({ version: true })
    .extend({
      kind: z.literal('openai'),
      /** Reload the server's weights whenever the loop's change (the server must serve this run's model and read its checkpoints). */
      reload: z.boolean().default(true),
    })
    .strict(),
  z
    .object({
      /** llama.cpp in-process (node-llama-cpp): each checkpoint the loop writes is exported to GGUF and loaded. */
      kind: z.literal('llamacpp'),
      /** CPU threads of llama.cpp (1 on 2 cores: more fight Node's main thread). */
      threads: z.number().int().positive().default(1),
      /** Sequences decoded together; 1 is bit-for-bit reproducible. */
      parallel: z.number().int().positive().default(1),
      /** KV cache precision (F32 matches the engine's numerics). */
      kvCache: z.enum(['F32', 'F16']).default('F32'),
    })
    .strict(),
]);

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

/** The update settings of an RL round or a self-play round. */
export type UpdateSettings = Pick<z.output<typeof RlSchema>, keyof typeof updateFields>;

export type RecipeInput = z.input<typeof RecipeSchema>;
export type Recipe = z.output<typeof RecipeSchema>;
