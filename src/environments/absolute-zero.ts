/**
 * Absolute Zero's two roles as environments (Zhao et al. 2025, "Absolute
 * Zero: Reinforced Self-play Reasoning with Zero Data",
 * https://arxiv.org/abs/2505.03335), both checked by the code executor:
 *
 * - propose: a task is one proposal slot of a task type (deduction,
 *   abduction, induction) with the buffer examples its prompt shows; the
 *   observation is the proposal prompt, and the one step parses the proposal
 *   and validates it with the executor. A proposal that does not parse or
 *   that the executor rejects gets its (negative) reward there. A valid one
 *   gets reward null and the feedback `valid; reward pending`: its reward,
 *   the learnability 1 − solve rate (or the unlearnable reward when the
 *   solver always or never solves it), is known only after the solve role has
 *   attempted it, so the caller settles it then (`settleProposal`), writing
 *   the reward, pass and feedback into the trajectory's turn. The validated
 *   task is kept by the environment (`validated(task)`).
 * - solve: a task is a validated triple (or induction task) asked as a
 *   deduction, abduction or induction question; the one step parses the
 *   answer and checks it by execution: a right answer 1, a wrong one the
 *   `wrong` reward, one that does not parse the `formatError` reward.
 *
 * Steps run one at a time in the order the rollout issues them (every live
 * episode in task order), so the executor is called in the order a plain loop
 * over the proposals would call it; each environment counts the time its
 * steps spend executing (`executeMs`).
 */
import type { Environment, EnvironmentStep } from '../spec/environment.js';
import type { Task } from '../spec/task.js';
import type { Trajectory } from '../spec/trajectory.js';
import { canonical } from '../sandbox/canonical.js';
import type { Executor } from '../selfplay/executor.js';
import { inductionTask, solverPrompt, type InductionTask, type Parsed, type TaskType, type Triplet } from '../selfplay/formats.js';
import { InvalidArgumentError } from '../errors.js';

/** The rewards of failures (SelfPlaySettings.rewards). */
export interface SelfPlayRewards {
  formatError: number;
  invalid: number;
  unlearnable: number;
  wrong: number;
}

/** A proposal slot: its type, and what the executor fixes for it (an induction proposal's program, a drawn input). */
export interface ProposalSlot {
  type: TaskType;
  /** The buffer program an induction proposer writes inputs for. */
  program?: string;
  /** The input the executor drew (`inputs: random`): the proposer writes the program alone. */
  input?: unknown;
}

/** A self-play environment: an Environment that also reports the time its steps spent executing. */
export interface SelfPlayEnvironment extends Environment {
  readonly executeMs: number;
}

/** The propose environment: validated tasks are kept by the task they were proposed for. */
export interface ProposeEnvironment extends SelfPlayEnvironment {
  /** The task a proposal for `task` made (undefined: it was not valid, or not stepped yet). */
  validated(task: Task): Triplet | InductionTask | undefined;
}

const slotOf = (task: Task): ProposalSlot => {
  const slot = task.meta?.slot as ProposalSlot | undefined;
  if (!slot) throw new InvalidArgumentError('task.meta.slot', `task "${task.id}" is not a proposal slot; build it with proposalTask()`);
  return slot;
};

/** The task of proposal slot `index`: its prompt is the proposal prompt. */
export function proposalTask(slot: ProposalSlot, prompt: string, index: number): Task {
  return { id: `propose-${slot.type}/${index}`, family: 'selfplay', prompt, meta: { slot } };
}

/** The task of solving `task` as a question of `type`. */
export function solveTask(executor: Executor, type: TaskType, task: Triplet | InductionTask, index: number): Task {
  return { id: `solve-${type}/${index}`, family: 'selfplay', prompt: solverPrompt(executor.format, type, task), meta: { type, task } };
}

/** Runs `work` after every earlier call has finished, adding its time to `clock.ms`. */
function serial(clock: { ms: number }) {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(async () => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        clock.ms += performance.now() - started;
      }
    });
    queue = run.catch(() => undefined);
    return run;
  };
}

/** A proposal parsed and validated: the new task, or the reward and reason of its failure. */
export async function checkProposal(executor: Executor, slot: ProposalSlot, text: string, rewards: SelfPlayRewards): Promise<{ task: Triplet | InductionTask } | { reward: number; feedback: string }> {
  const format = executor.format;
  if (slot.type === 'induction') {
    const parsed = format.parseInductionProposal(text);
    if (!parsed.ok) return { reward: rewards.formatError, feedback: `format error: ${parsed.reason}` };
    const keys = parsed.value.inputs.map((x) => canonical(x));
    if (new Set(keys).size !== keys.length) return { reward: rewards.invalid, feedback: 'invalid: the inputs repeat' };
    const pairs = [];
    for (const input of parsed.value.inputs) {
      const v = await executor.validate({ program: slot.program!, input });
      if (!v.valid) return { reward: rewards.invalid, feedback: `invalid: f(${canonical(input)}): ${v.reason}` };
      pairs.push({ input, output: v.output });
    }
    return { task: inductionTask(slot.program!, pairs, parsed.value.message) };
  }
  let parsed: Parsed<{ program: string; input: unknown }>;
  if (slot.input !== undefined) {
    const program = format.parseProgram(text);
    parsed = program.ok ? { ok: true, value: { program: program.value, input: slot.input } } : program;
  } else parsed = format.parseProposal(text);
  if (!parsed.ok) return { reward: rewards.formatError, feedback: `format error: ${parsed.reason}` };
  const v = await executor.validate(parsed.value);
  if (!v.valid) return { reward: rewards.invalid, feedback: `invalid: ${v.reason}` };
  return { task: { ...parsed.value, output: v.output } };
}

/** The feedback of a valid proposal before the solver has attempted it. */
export const PENDING_FEEDBACK = 'valid; reward pending';

/** The propose role: one step validates a proposal (see the file comment). */
export function proposeEnvironment(executor: Executor, rewards: SelfPlayRewards): ProposeEnvironment {
  const clock = { ms: 0 };
  const inOrder = serial(clock);
  const made = new Map<Task, Triplet | InductionTask>();
  return {
    name: `absolute-zero-propose(${executor.format.name})`,
    version: '1',
    maxTurns: 1,
    get executeMs() {
      return clock.ms;
    },
    validated: (task) => made.get(task),
    async reset(task: Task) {
      const slot = slotOf(task);
      let stepped = false;
      return {
        observation: task.prompt,
        step(action: string): Promise<EnvironmentStep> {
          if (stepped) return Promise.reject(new InvalidArgumentError('action', `the proposal episode of task "${task.id}" has ended; start another with reset()`));
          stepped = true;
          return inOrder(async () => {
            const outcome = await checkProposal(executor, slot, action, rewards);
            if ('task' in outcome) {
              made.set(task, outcome.task);
              return { observation: '', reward: null, done: true, pass: false, feedback: PENDING_FEEDBACK };
            }
            return { observation: '', reward: outcome.reward, done: true, pass: false, feedback: outcome.feedback };
          });
        },
      };
    },
  };
}

/**
 * A valid proposal's trajectory with its reward settled: `reward` and `pass`
 * (learnable) written into its turn and the trajectory, the feedback
 * replacing the pending one.
 */
export function settleProposal(trajectory: Trajectory, reward: number, pass: boolean, feedback: string): Trajectory {
  const turns = trajectory.turns.map((turn, t) => (t === trajectory.turns.length - 1 ? { ...turn, reward, feedback } : turn));
  return { ...trajectory, turns, reward, pass };
}

/** The solve role: one step checks an answer by execution (see the file comment). */
export function solveEnvironment(executor: Executor, rewards: SelfPlayRewards): SelfPlayEnvironment {
  const clock = { ms: 0 };
  const inOrder = serial(clock);
  return {
    name: `absolute-zero-solve(${executor.format.name})`,
    version: '1',
    maxTurns: 1,
    get executeMs() {
      return clock.ms;
    },
    async reset(task: Task) {
      const { type, task: question } = (task.meta ?? {}) as { type?: TaskType; task?: Triplet | InductionTask };
      if (!type || !question) throw new InvalidArgumentError('task.meta', `task "${task.id}" is not a self-play question; build it with solveTask()`);
      let stepped = false;
      return {
        observation: task.prompt,
        step(action: string): Promise<EnvironmentStep> {
          if (stepped) return Promise.reject(new InvalidArgumentError('action', `the solve episode of task "${task.id}" has ended; start another with reset()`));
          stepped = true;
          return inOrder(async () => {
            const { pass, feedback, formatError } = await executor.answer(type, question, action);
            return { observation: '', reward: formatError ? rewards.formatError : pass ? 1 : rewards.wrong, done: true, pass, feedback };
          });
        },
      };
    },
  };
}
