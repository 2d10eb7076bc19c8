/**
 * Curation: which attempts join the training set, and what a training example
 * looks like. Acceptance is by the verifier (STaR, ReST-EM, Re-ReST) or by a
 * majority vote among a task's samples for unlabeled tasks (self-consistency);
 * at most `capPerTask` per task, distinct completions first.
 */
import type { Recipe } from '../recipe/schema.js';
import type { Task } from '../spec/task.js';
import type { Verification, Verifier } from '../spec/verifier.js';
import type { StoredSample } from '../store/run-store.js';
import { Rng } from '../engine/random.js';
import { majorityVote } from '../verifiers/consensus.js';
import { answerEnds, extractAnswer } from '../verifiers/match.js';
import { fillTemplate } from '../rollout/reflect.js';
import { secondAttemptContext } from '../environments/two-attempt.js';
import { firstDistinct, type Attempt, type SftExample } from './steps.js';
import { InvalidConfigError } from '../errors.js';

/**
 * The accepted samples of a round, with the reason each was accepted. With a
 * `threshold` (the round plan's, e.g. B-STaR's), the verifier's attempts are
 * accepted by reward ≥ threshold instead of by their pass.
 */
export function curate(recipe: Recipe, tasks: readonly Task[], samples: readonly StoredSample[], threshold: number | null = null): { sampleId: number; reason: string }[] {
  const byTask = new Map<string, StoredSample[]>();
  for (const sample of samples) (byTask.get(sample.taskId) ?? byTask.set(sample.taskId, []).get(sample.taskId)!).push(sample);
  const accepted: { sampleId: number; reason: string }[] = [];
  for (const task of tasks) {
    const candidates = byTask.get(task.id) ?? [];
    let chosen: { sample: StoredSample; reason: string }[];
    if (recipe.accept.by === 'majority') {
      // Label-free: the answer most of the task's own samples agree on wins; refinements do not vote.
      const own = candidates.filter((s) => s.kind === 'sample');
      const options = { answerMarker: recipe.accept.answerMarker, answerEnd: answerEnds(recipe.sample.stop) };
      const vote = majorityVote(own.map((s) => s.completion), { ...options, minAgreement: recipe.accept.minAgreement });
      chosen = vote.answer === null ? [] : own.filter((s) => extractAnswer(s.completion, options) === vote.answer).map((sample) => ({ sample, reason: `majority ${(vote.agreement * 100).toFixed(0)}%` }));
    } else {
      // Own samples first, then revisions; the reason names which.
      const order = { sample: 0, reflection: 1, rationalization: 2, correction: 3 } as const;
      chosen = candidates
        .filter((s) => s.verification?.status === 'scored' && (threshold === null ? s.verification.pass : s.verification.reward >= threshold))
        .sort((a, b) => order[a.kind] - order[b.kind] || a.id - b.id)
        .map((sample) => ({ sample, reason: sample.kind === 'sample' ? 'verified' : `verified ${sample.kind}` }));
    }
    for (const { sample, reason } of firstDistinct(chosen, recipe.accept.capPerTask, (c) => c.sample.completion)) accepted.push({ sampleId: sample.id, reason });
  }
  return accepted;
}

/**
 * A training example from an accepted sample: always the task's own prompt
 * (a revision or rationale trains without the reflection prompt or hint, as
 * in Re-ReST and STaR). When a stop string ended the sample, the sampler cut
 * it; it is put back so the policy learns to end its answer (with several
 * stop strings, the first). A sample ended by EOS needs nothing: SFT appends EOS.
 */
export function trainingExample(recipe: Recipe, sample: StoredSample, task: Task, eosId: number): { prompt: string; completion: string } {
  const endedByStopString = sample.finishReason === 'stop' && sample.tokens.at(-1) !== eosId;
  return { prompt: task.prompt, completion: `${sample.completion}${endedByStopString ? recipe.sample.stop[0] ?? '' : ''}` };
}

/** A stored sample as an Attempt (for monitors and metrics). */
export function toAttempt(sample: StoredSample, task: Task): Attempt {
  return {
    task,
    sample: sample.sampleIndex,
    kind: sample.kind,
    policyVersion: sample.policyVersion,
    completion: sample.completion,
    tokens: [...sample.tokens],
    logprobs: [...sample.logprobs],
    finishReason: sample.finishReason,
    verification: sample.verification ?? { status: 'error', error: 'not scored' },
  };
}

/**
 * The warm-up's supervised examples: every labeled task's solution, plus, for
 * a share of them, a reflection example (a corrupted attempt, the verifier's
 * feedback on it, and the right solution) and a hint example (the answer in
 * the prompt), so a small policy learns the formats its own reflector and
 * rationalizer use.
 */
export function labeledExamples(recipe: Recipe, tasks: readonly Task[], verifier: Verifier, seed: number): SftExample[] {
  const warmup = recipe.warmup!;
  const rng = new Rng(seed, 0x1abe1);
  const stop = recipe.sample.stop[0] ?? '';
  const examples: SftExample[] = [];
  for (const task of tasks) {
    const solution = completionOf(recipe, task);
    const body = stop && solution.endsWith(stop) ? solution.slice(0, -stop.length) : solution; // the solution as the sampler returns it
    examples.push({ prompt: task.prompt, completion: solution });
    if (warmup.hintShare > 0 && task.answer !== undefined && rng.next() < warmup.hintShare) {
      examples.push({ prompt: fillTemplate(recipe.rationalize.template, { prompt: task.prompt, answer: task.answer }), completion: solution, group: 'hint' });
    }
    if (warmup.correctionShare > 0 && rng.next() < warmup.correctionShare) {
      // SCoRe's format: attempt 1 wrong (corrupted) or right (kept), the instruction, the right answer.
      const attempt = rng.next() < 0.5 ? corrupt(body, rng) : body;
      const selfCorrection = recipe.rl?.selfCorrection;
      const verdict = selfCorrection?.showFeedback ? syncVerdict(verifier, task, attempt, 'warmup.correctionShare', 'warmup.correctionShare with feedback') : undefined;
      const feedback = verdict?.status === 'scored' ? verdict.feedback : '';
      examples.push({ prompt: secondAttemptContext(task, attempt, feedback, { instruction: selfCorrection?.instruction, showFeedback: selfCorrection?.showFeedback }), completion: solution, group: 'correction' });
    }
    if (warmup.reflectionShare > 0 && rng.next() < warmup.reflectionShare) {
      const attempt = corrupt(body, rng);
      const verdict = syncVerdict(verifier, task, attempt, 'warmup.reflectionShare', 'warmup.reflectionShare');
      if (verdict.status === 'scored' && !verdict.pass) {
        examples.push({ prompt: fillTemplate(recipe.reflect.template, { prompt: task.prompt, attempt, feedback: verdict.feedback }), completion: solution, group: 'reflection' });
      }
    }
  }
  return examples;
}

/** The verifier's verdict on an attempt, read synchronously (the warm-up builds its examples in one pass); `what` names what needs it. */
function syncVerdict(verifier: Verifier, task: Task, attempt: string, field: string, what: string): Verification {
  const verdict = verifier.verify(task, attempt);
  if (verdict instanceof Promise) throw new InvalidConfigError(field, `${what} needs a synchronous verifier; ${verifier.name} is asynchronous: set ${field}: 0`);
  return verdict;
}

/** A plausible wrong attempt: one character changed, dropped or repeated (digits stay digits). */
export function corrupt(text: string, rng: Rng): string {
  if (text.length === 0) return '0';
  const at = Math.floor(rng.next() * text.length);
  const kind = rng.next();
  if (kind < 0.6) {
    const char = text[at];
    const pool = /\d/.test(char) ? '0123456789' : /[a-z]/.test(char) ? 'abcdefghijklmnopqrstuvwxyz' : char;
    let replacement = char;
    for (let tries = 0; replacement === char && pool.length > 1 && tries < 20; tries++) replacement = pool[Math.floor(rng.next() * pool.length)];
    return text.slice(0, at) + replacement + text.slice(at + 1);
  }
  if (kind < 0.8 && text.length > 1) return text.slice(0, at) + text.slice(at + 1);
  return text.slice(0, at) + text[at] + text.slice(at);
}

/** What a labeled task's completion is for supervised training: its worked solution, else its answer and the stop string. */
export function completionOf(recipe: Recipe, task: Task): string {
  if (task.solution !== undefined) return task.solution;
  if (task.answer !== undefined) return `${task.answer}${recipe.sample.stop[0] ?? ''}`;
  throw new InvalidConfigError('warmup', `task ${task.id} has neither a solution nor an answer; it cannot be a labeled example: give the labeled tasks a solution or an answer, or turn off warmup and train.includeLabeled`);
}
