/**
 * What a run is made of and what a method's round is lent: the parts a recipe
 * names (`LoopParts`, built by openRun), the policy handle and weight
 * bookkeeping (`RoundContext`), the loop's events and results. Types only, so
 * methods and the loop import them without importing each other.
 */
import type { Recipe } from '../recipe/schema.js';
import type { Controller, RoundPlan, TaskRecord } from '../spec/controller.js';
import type { Monitor } from '../spec/monitor.js';
import type { Policy } from '../spec/policy.js';
import type { Reflector } from '../spec/reflector.js';
import type { Task } from '../spec/task.js';
import type { TaskSource } from '../spec/task-source.js';
import type { TrainingBackend } from '../spec/training-backend.js';
import type { Verifier } from '../spec/verifier.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import type { RunStore } from '../store/run-store.js';
import type { Executor } from '../selfplay/executor.js';

/** The phases of a round, in order (a policy-gradient round runs tasks → rl → evaluate → monitor; a self-play round selfplay → evaluate → monitor). */
export const PHASES = ['tasks', 'sample', 'score', 'refine', 'curate', 'update', 'evaluate', 'monitor'] as const;
export type Phase = (typeof PHASES)[number] | 'warmup' | 'rl' | 'selfplay';

/** Everything a loop runs with; `openRun` makes it from a recipe. */
export interface LoopParts {
  recipe: Recipe;
  backend: TrainingBackend;
  tokenizer: Tokenizer;
  source: TaskSource;
  /** The tasks' verifier (labels): scores held-out evaluation, and the samples too unless `rewardVerifier` is set. */
  verifier: Verifier;
  /** What scores the samples the policy learns from, when not `verifier`: an LLM judge or a majority vote (the recipe's `verifier:` section). */
  rewardVerifier?: Verifier;
  /** Builds `rewardVerifier` from the policy the loop samples from (a judge that is the policy itself); runLoop calls it once, at its start. */
  makeRewardVerifier?: (self: Policy) => Verifier;
  /** The recipe's controllers in planning order: its curriculum, then `controllers:` (src/run/plan.ts). */
  controllers: Controller[];
  /** Reflects on failures (Re-ReST); required when `recipe.reflect.enabled`. */
  reflector?: Reflector;
  monitors: Monitor[];
  store: RunStore;
  /** Where checkpoints go. */
  runDir: string;
  /** The checkpoint round 0 starts from, when the recipe names one (no warm-up training then). */
  initialCheckpoint?: string;
  /** A second backend for the frozen KL reference of RL rounds (loaded with the round-0 weights). */
  reference?: TrainingBackend;
  /** Runs programs in the sandbox: validates and checks self-play tasks (the `programs` task family makes it). */
  executor?: Executor;
  /** Samples from somewhere other than the training engine (an OpenAI-compatible server: the recipe's `sampler:` section). */
  sampler?: RemoteSampler;
}

/**
 * A sampler outside the training engine. With `reloadWeights`, it follows
 * training: the loop hands it each new checkpoint before sampling again and
 * refuses replies made with other weights than its own.
 */
export interface RemoteSampler {
  policy: Policy;
  reloadWeights?(checkpointDir: string, version: string): Promise<void>;
  /** Releases connections, threads and memory. */
  close?(): Promise<void>;
  /** What the sampler has spent so far (requests, tokens, cost), reported as `sampler/<key>` round metrics. */
  usage?(): Record<string, number>;
}

/** The policy rounds sample from; `weightsPath` locates its current weights on disk (a remote sampler loads them from there). */
export type LoopPolicy = Policy & { version: string; weightsPath?: string };

/** What the loop lends a round: its policy handle and weight bookkeeping. */
export interface RoundContext {
  policy: LoopPolicy;
  /** Loads the weights a round ended with. */
  useWeights(round: number): Promise<void>;
  /** Loads a checkpoint (the loop forgets which round's weights it holds). */
  loadWeights(path: string, version: string, options?: { weightsOnly?: boolean }): Promise<void>;
  /** Saves the round's final weights as its checkpoint. */
  saveWeights(round: number, version: string): Promise<void>;
  progress(done: number): void;
  /** Checked between steps: true stops the round (it resumes at the next step). */
  shouldStop(): boolean;
}

/** Thrown by a round's step loop when `shouldStop` asks it to stop; the loop turns it into a clean stop. */
export class RoundStopped extends Error {}

/** Callbacks for progress display and clean stops. */
export interface LoopEvents {
  phaseStart?(round: number, phase: Phase, total: number): void;
  progress?(round: number, phase: Phase, done: number, total: number): void;
  phaseEnd?(round: number, phase: Phase, ms: number): void;
  roundEnd?(summary: RoundSummary): void;
  /** Checked before every phase: returning true stops the loop cleanly (rerun to resume). */
  shouldStop?(): boolean;
}

export interface Evaluation {
  accuracy: number;
  byDifficulty: Record<string, number>;
}

/** What a finished round reports. */
export interface RoundSummary {
  round: number;
  /** The difficulty the round focused on (undefined for the warm-up). */
  frontier?: number;
  tasks: number;
  accepted: number;
  /** Accepted attempts at the frontier difficulty. */
  acceptedAtFrontier: number;
  evaluation: Evaluation;
  metrics: Record<string, number>;
  /** Time of its finished phases (a phase cut short by a kill counts only the run that finished it). */
  seconds: number;
  checkpoint: string;
}

export interface LoopResult {
  rounds: RoundSummary[];
  /** True when shouldStop ended the loop before its last round. */
  stopped: boolean;
  /** The last checkpoint written. */
  checkpoint?: string;
}

/** The loop as its rounds see it: the parts, the policy, named phases and weight bookkeeping. */
export interface LoopRun {
  parts: LoopParts;
  policy: LoopPolicy;
  events: LoopEvents;
  /** Held-out tasks, drawn once: every round evaluates on them and no round trains on their prompts. */
  heldOut: readonly Task[];
  /** The warm-up's labeled tasks (empty without a warm-up). */
  labeled: readonly Task[];
  /** Runs a named, timed phase unless the store marks it done; checks `shouldStop` first. */
  phase(round: number, name: Phase, total: number, work: (progress: (done: number) => void) => Promise<void>): Promise<void>;
  /** Loads the weights a round ended with. */
  useWeights(round: number): Promise<void>;
  /** Saves the backend's weights as a round's checkpoint. */
  saveWeights(round: number, version: string): Promise<void>;
  /** The context a step-wise round runs with, reporting progress to `progress`. */
  roundContext(progress: (done: number) => void): RoundContext;
}

/**
 * A method: what a round does between drawing its tasks and evaluating. Each
 * is a plain file under src/run/methods/ that composes the shared phases;
 * the loop picks one by the recipe (src/run/methods/index.ts).
 */
export interface Method {
  readonly name: string;
  /** Whether the round draws tasks from its plan first (self-play proposes its own; its round is still planned). */
  readonly drawsTasks: boolean;
  /** What counts as a task solved, for curricula: an accepted attempt (methods that curate) or a passing one. */
  readonly solvedBy: 'accepted' | 'passed';
  /**
   * The recipe's plan of a round before controllers change it, for a method
   * whose rounds are not one draw of `tasks.perRound` (self-play: a solve
   * count per task type); absent: that one draw.
   */
  defaultPlan?(recipe: LoopParts['recipe'], round: number): RoundPlan;
  /**
   * What controllers read of a finished round whose tasks the method made
   * itself (self-play: one record per task type, from its answers); absent or
   * undefined: the records of the round's drawn tasks.
   */
  taskRecords?(parts: LoopParts, round: number): TaskRecord[] | undefined;
  /** Runs (or resumes) round `round`; `tasks` are the round's drawn tasks (empty when it draws none); `plan` the round's stored plan, which every sampling site reads. */
  round(run: LoopRun, round: number, tasks: readonly Task[], plan: RoundPlan): Promise<void>;
}
