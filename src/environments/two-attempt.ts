/**
 * The two-attempt environment of SCoRe (Kumar et al. 2024,
 * https://arxiv.org/abs/2409.12917): the policy answers the task's prompt,
 * the verifier scores that first attempt (reward r1), the environment asks
 * for a correction, and the verifier scores the second attempt (reward r2),
 * which decides whether the episode passes. Each step carries its own reward
 * and verdict; how the two rewards combine into a training target (SCoRe's
 * Stage I and Stage II) is the learner's business (src/learn/score.ts).
 *
 * SCoRe studies intrinsic self-correction: the second attempt sees no
 * external feedback, only an instruction to look for an error. That is the
 * default here; `showFeedback` shows the verifier's feedback on attempt 1
 * (then it is no longer intrinsic).
 */
import type { Environment, EnvironmentStep } from '../spec/environment.js';
import type { Task } from '../spec/task.js';
import type { Verifier } from '../spec/verifier.js';
import { InvalidArgumentError } from '../errors.js';
import { fillTemplate } from '../rollout/reflect.js';
import { stepOfVerdict } from './single-turn.js';

/**
 * The default self-correction instruction, after the paper's MATH prompt
 * ("There might be an error in the solution above because of lack of
 * understanding of the question. Please correct the error, if any, and
 * rewrite the solution."), shortened for short answers, and ending with the
 * task's prompt again so a small model writes its answer where it did the
 * first time (`12+34=`).
 */
export const DEFAULT_CORRECTION_INSTRUCTION = '\nThere might be an error above. Correct it, if any, and rewrite the answer.\n{prompt}';

/** The default instruction when attempt 1's feedback is shown. */
export const DEFAULT_FEEDBACK_INSTRUCTION = '\nFeedback: {feedback}\nCorrect the answer, if needed, and rewrite it.\n{prompt}';

const PLACEHOLDERS = ['prompt', 'attempt', 'feedback'] as const;

export interface TwoAttemptOptions {
  /**
   * The observation after attempt 1, appended to the episode so far (the
   * prompt and attempt 1). Placeholders: `{prompt}` (the task's prompt),
   * `{attempt}` (attempt 1's text), `{feedback}` (the verifier's feedback on
   * it; only with `showFeedback`). Default: DEFAULT_CORRECTION_INSTRUCTION,
   * or DEFAULT_FEEDBACK_INSTRUCTION with `showFeedback`.
   */
  instruction?: string;
  /** Show attempt 1's feedback in the instruction (default false: intrinsic self-correction, as in SCoRe). */
  showFeedback?: boolean;
}

/** The placeholders a template uses; an unknown one is an error naming the known ones. */
function placeholdersOf(template: string): Set<string> {
  const used = new Set<string>();
  for (const [, name] of template.matchAll(/\{(\w+)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) throw new InvalidArgumentError('instruction', `unknown placeholder {${name}}; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
    used.add(name);
  }
  return used;
}

/** The instruction and options resolved: the template the second turn's observation is filled from, checked once. */
function resolveInstruction(options: TwoAttemptOptions): { instruction: string; showFeedback: boolean } {
  const showFeedback = options.showFeedback ?? false;
  const instruction = options.instruction ?? (showFeedback ? DEFAULT_FEEDBACK_INSTRUCTION : DEFAULT_CORRECTION_INSTRUCTION);
  const used = placeholdersOf(instruction);
  if (used.has('feedback') && !showFeedback) throw new InvalidArgumentError('instruction', 'uses {feedback} but showFeedback is false; set showFeedback: true to show attempt 1\'s feedback, or remove {feedback} for intrinsic self-correction');
  if (showFeedback && !used.has('feedback')) throw new InvalidArgumentError('instruction', 'showFeedback is true but the instruction has no {feedback} placeholder to show it in');
  return { instruction, showFeedback };
}

/**
 * The text the policy reads before its second attempt: the task's prompt,
 * attempt 1 (without its stop string, as the sampler returns it) and the
 * filled instruction — what a two-attempt episode's context decodes to. The
 * warm-up teaches the format from it (`warmup.correctionShare`).
 */
export function secondAttemptContext(task: Task, attempt: string, feedback: string, options: TwoAttemptOptions = {}): string {
  const { instruction } = resolveInstruction(options);
  return task.prompt + attempt + fillTemplate(instruction, { prompt: task.prompt, attempt, feedback });
}

/**
 * A two-step environment around a verifier: step 1 scores attempt 1 and
 * returns the correction instruction (not done); step 2 scores attempt 2 and
 * ends the episode, passing when attempt 2 passes. A third step is an
 * InvalidArgumentError. A verdict that is not a score (verifier error, not
 * applicable) gives that step a null reward, with the reason as feedback.
 */
export function twoAttemptEnvironment(verifier: Verifier, options: TwoAttemptOptions = {}): Environment {
  const { instruction, showFeedback } = resolveInstruction(options);
  return {
    name: `two-attempt(${verifier.name}${showFeedback ? ', feedback' : ''})`,
    version: verifier.version,
    maxTurns: 2,
    async reset(task: Task) {
      let steps = 0;
      return {
        observation: task.prompt,
        async step(action: string): Promise<EnvironmentStep> {
          // Counted before the verifier runs, so concurrent calls cannot both take a turn.
          const turn = ++steps;
          if (turn > 2) throw new InvalidArgumentError('action', `the two-attempt episode of task "${task.id}" has ended after its second attempt; start another with reset()`);
          const scored = stepOfVerdict(await verifier.verify(task, action));
          if (turn === 2) return scored;
          const { pass: _notDoneYet, ...first } = scored;
          const observation = fillTemplate(instruction, { prompt: task.prompt, attempt: action, feedback: first.feedback });
          return { ...first, observation, done: false };
        },
      };
    },
  };
}
