/** Pieces of the OpenAI wire format the server fills in: a request's prompts, a reply's usage and creation time. */
import type { Completion } from '../spec/policy.js';
import type { CompletionRequest } from './protocol.js';

/** A request's prompts: one prompt (text or token ids) as a list of one, a list as it is. */
export function promptList(prompt: CompletionRequest['prompt']): (string | number[])[] {
  if (typeof prompt === 'string') return [prompt];
  if (typeof prompt[0] === 'number') return [prompt as number[]];
  return prompt as (string | number[])[];
}

export function usageOf(prompts: number[][], results: Completion[][]) {
  const promptTokens = prompts.reduce((sum, p) => sum + p.length, 0);
  const completionTokens = results.reduce((sum, group) => sum + group.reduce((s, seq) => s + seq.tokens.length, 0), 0);
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

export function now(): number {
  return Math.floor(Date.now() / 1000);
}
