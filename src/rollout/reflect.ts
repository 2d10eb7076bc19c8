/**
 * The default reflector of Re-ReST (https://arxiv.org/abs/2406.01495): the
 * policy itself, prompted with the task, its failed attempt and the feedback.
 * The template's `{prompt}`, `{attempt}` and `{feedback}` are filled in.
 */
import type { Policy, SamplingOptions } from '../spec/policy.js';
import type { ReflectionInput, Reflector } from '../spec/reflector.js';

/** Fills `{name}` placeholders; a placeholder without a value is an error (a typo in a recipe template). */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (!(name in values)) throw new RangeError(`template ${JSON.stringify(template)}: unknown placeholder ${whole} (known: ${Object.keys(values).map((k) => `{${k}}`).join(', ')})`);
    return values[name];
  });
}

export function reflectionPrompt(template: string, input: ReflectionInput): string {
  return fillTemplate(template, { prompt: input.task.prompt, attempt: input.attempt, feedback: input.feedback });
}

/** The policy as its own reflector. */
export function policyReflector(policy: Pick<Policy, 'name' | 'sample'>, options: { template: string; sampling: Omit<SamplingOptions, 'n' | 'seed'> }): Reflector {
  return {
    name: `self-reflection(${policy.name})`,
    async reflect(inputs, { n, seed }) {
      const prompts = inputs.map((input) => reflectionPrompt(options.template, input));
      const revisions = await policy.sample(prompts, { ...options.sampling, n, seed });
      return prompts.map((prompt, i) => ({ prompt, revisions: revisions[i] }));
    },
  };
}
