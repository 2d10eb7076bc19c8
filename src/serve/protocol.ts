import { z } from 'zod';
import type { TokenLogprob } from '../engine/sampler.js';
import type { Tokenizer } from '../engine/tokenizer.js';

/**
 * The OpenAI API's request and reply shapes, as `autodidact serve` speaks them
 * (https://platform.openai.com/docs/api-reference/completions and
 * /chat). Unknown fields are ignored, as vLLM does; fields we cannot honour
 * (echo, best_of, penalties, logit_bias, tools) are refused with a 400 that
 * names them rather than silently dropped.
 */

const StopSchema = z.union([z.string(), z.array(z.string())]).nullable().optional();

/** Fields common to both endpoints. */
const SamplingFields = {
  model: z.string().optional(),
  n: z.number().int().positive().max(128).default(1),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  stop: StopSchema,
  seed: z.number().int().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
  /** vLLM's extension: logprob tokens are written `token_id:N`. */
  return_tokens_as_token_ids: z.boolean().nullable().optional(),
  frequency_penalty: z.number().nullable().optional(),
  presence_penalty: z.number().nullable().optional(),
  logit_bias: z.record(z.string(), z.number()).nullable().optional(),
};

export const CompletionRequestSchema = z
  .object({
    ...SamplingFields,
    prompt: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int()).min(1), z.array(z.array(z.number().int()).min(1)).min(1)]),
    /** Top alternatives per token (0–20); the sampled token's logprob is always included when set. */
    logprobs: z.number().int().min(0).max(20).nullable().optional(),
    echo: z.boolean().nullable().optional(),
    best_of: z.number().int().nullable().optional(),
    suffix: z.string().nullable().optional(),
  })
  .passthrough();

const ContentSchema = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]);

export const ChatRequestSchema = z
  .object({
    ...SamplingFields,
    messages: z.array(z.object({ role: z.enum(['system', 'developer', 'user', 'assistant']), content: ContentSchema.nullable() }).passthrough()).min(1),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    logprobs: z.boolean().nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    tools: z.array(z.unknown()).nullable().optional(),
    response_format: z.object({ type: z.string() }).passthrough().nullable().optional(),
  })
  .passthrough();

export type CompletionRequest = z.output<typeof CompletionRequestSchema>;
export type ChatRequest = z.output<typeof ChatRequestSchema>;

/** A request the server refuses: HTTP status, message and the offending parameter. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }

  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: null } };
  }
}

/** Parses a request body, turning the first schema issue into a 400 that names the field. */
export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = issue.path.join('.');
  throw new RequestError(400, `\`${param || 'body'}\`: ${issue.message}`, param || null);
}

/** Refuses the parameters this server cannot honour, naming each. */
export function refuseUnsupported(request: CompletionRequest | ChatRequest): void {
  const refuse = (param: string, why: string) => {
    throw new RequestError(400, `\`${param}\` is not supported by autodidact serve: ${why}`, param);
  };
  if (request.frequency_penalty) refuse('frequency_penalty', 'the sampler has no repetition penalties; leave it 0');
  if (request.presence_penalty) refuse('presence_penalty', 'the sampler has no repetition penalties; leave it 0');
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0) refuse('logit_bias', 'the sampler takes no logit biases');
  if ('echo' in request && request.echo) refuse('echo', 'prompts are not echoed back');
  if ('best_of' in request && request.best_of != null && request.best_of !== request.n) refuse('best_of', 'use n');
  if ('suffix' in request && request.suffix) refuse('suffix', 'there is no fill-in-the-middle');
  if ('messages' in request) {
    const chat = request as ChatRequest;
    if (chat.tools && chat.tools.length > 0) refuse('tools', 'the embedded models do not call tools');
    if (chat.response_format && chat.response_format.type !== 'text') refuse('response_format', 'only plain text is produced');
  }
}

/** The stop strings of a request as a list. */
export function stopList(stop: CompletionRequest['stop']): string[] {
  if (stop == null) return [];
  return (typeof stop === 'string' ? [stop] : stop).filter((s) => s.length > 0);
}

/**
 * A message list as one prompt. There is no learned chat format in a byte
 * model, so the template is plain and documented: a lone user message is its
 * text as it is (chat and completions then see the same prompt, which is what
 * recipes train on); otherwise each message is a `role: content` line, and the
 * prompt ends with `assistant: ` for the reply.
 */
export function renderChat(messages: ChatRequest['messages']): string {
  const text = (content: ChatRequest['messages'][number]['content']) => (typeof content === 'string' ? content : (content ?? []).map((part) => part.text ?? '').join(''));
  if (messages.length === 1 && messages[0].role === 'user') return text(messages[0].content);
  return messages.map((m) => `${m.role === 'developer' ? 'system' : m.role}: ${text(m.content)}\n`).join('') + 'assistant: ';
}

/**
 * How a token is written in logprobs: `token_id:N` when asked (vLLM's
 * convention, lossless), else its text — a special token by name, a byte that
 * is not complete UTF-8 on its own as `bytes:\xNN` (OpenAI's convention).
 */
export function tokenString(tokenizer: Tokenizer, id: number, asId: boolean): string {
  if (asId) return `token_id:${id}`;
  const bytes = tokenizer.tokenBytes(id);
  if (bytes.length === 0) return (tokenizer as Tokenizer & { specialName?: (id: number) => string | undefined }).specialName?.(id) ?? `<|${id}|>`;
  const decoded = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (!decoded.includes('\uFFFD')) return decoded;
  return 'bytes:' + Array.from(bytes, (b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
}

/** Logprobs of a run of tokens in the completions layout (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`). */
export function completionLogprobs(tokenizer: Tokenizer, tokens: readonly number[], logprobs: readonly number[], top: readonly TokenLogprob[][] | undefined, asIds: boolean, offset: number) {
  const offsets: number[] = [];
  let at = offset;
  for (const id of tokens) {
    offsets.push(at);
    at += tokenizer.decode([id]).length;
  }
  return {
    tokens: tokens.map((id) => tokenString(tokenizer, id, asIds)),
    token_logprobs: [...logprobs],
    top_logprobs: top ? top.map((alternatives) => Object.fromEntries(alternatives.map((a) => [tokenString(tokenizer, a.id, asIds), a.logprob]))) : null,
    text_offset: offsets,
  };
}

/** Logprobs of a run of tokens in the chat layout (`content: [{token, logprob, bytes, top_logprobs}]`). */
export function chatLogprobs(tokenizer: Tokenizer, tokens: readonly number[], logprobs: readonly number[], top: readonly TokenLogprob[][] | undefined, asIds: boolean) {
  const entry = (id: number, logprob: number) => ({ token: tokenString(tokenizer, id, asIds), logprob, bytes: Array.from(tokenizer.tokenBytes(id)) });
  return { content: tokens.map((id, k) => ({ ...entry(id, logprobs[k]), top_logprobs: (top?.[k] ?? []).map((a) => entry(a.id, a.logprob)) })) };
}
