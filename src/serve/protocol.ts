import type { TokenLogprob } from '../spec/policy.js';
import { z } from 'zod';
import type { Tokenizer } from '../engine/tokenizer.js';

/**
 * The OpenAI API's request and reply shapes, as `autodidact serve` speaks them
 * (https://platform.openai.com/docs/api-reference/completions and
 * /chat). Unknown fields are ignored, as vLLM does (stripped unread: copying
 * them would cost more than parsing the body did); fields we cannot honour
 * (echo, best_of, penalties, logit_bias, tools) are refused with a 400 that
 * names them rather than silently dropped.
 */

/**
 * Every bound the server puts on a request, in one place. Each is checked on a
 * size alone (the body's bytes, a list's or a string's length, a number)
 * before any element is read, any prompt tokenized or any list spread into a
 * call, so an oversized request costs its 4xx and nothing more. The served
 * model sets the others
 * ({@link RequestBounds}): a prompt must leave room in its context for a
 * completion, and prompts × n must fit its batch.
 */
export const limits = {
  /** Bytes of a request body; a longer one is refused (413) before it is parsed. */
  bodyBytes: 8 * 1024 * 1024,
  /** Choices per prompt (OpenAI's cap). */
  n: 128,
  /** Tokens per completion. A completion also ends at the model's context, so this only refuses values no context reaches. */
  maxTokens: 1 << 20,
  /** Stop strings per request. OpenAI allows 4; recipes stop on each digit (10), so 16. Each is matched after every token. */
  stopStrings: 16,
  /** Characters (UTF-16 code units) per stop string; a streamed choice holds back up to its UTF-8 length, so this bounds that too. */
  stopLength: 256,
  /** Alternatives per token in logprobs (OpenAI's cap). */
  topLogprobs: 20,
  /** Parts of one chat message's content list (a part without text adds nothing to the prompt, so the context does not bound them). */
  contentParts: 256,
  /** Seeds the sampler honours: its generator takes 32-bit seeds, so a larger one would repeat a smaller one's samples. */
  seed: { min: 0, max: 2 ** 32 - 1 },
} as const;

/** What the served model bounds. */
export interface RequestBounds {
  /** The model's context, tokens: a prompt has fewer, leaving room for a completion. */
  context: number;
  /** Sequences (prompts × n) decoded together at most (--max-batch). */
  maxBatch: number;
}

type Shape = 'string' | 'numbers' | 'list';

/** A value's shape as the API's unions tell them apart: a string, a list of numbers (token ids), another list. */
function shapeOf(value: unknown): Shape | null {
  if (typeof value === 'string') return 'string';
  if (!Array.isArray(value)) return null;
  return typeof value[0] === 'number' ? 'numbers' : 'list';
}

/**
 * One of several schemas, picked by the value's shape instead of tried in turn
 * (as z.union does), so a value meets one schema: a list too long for it is
 * refused with the bound it breaks, before its elements are read, and the
 * error is that schema's, not "Invalid input".
 */
function byShape<S extends Partial<Record<Shape, z.ZodType>>>(expected: string, schemas: S) {
  return z.unknown().transform((value, ctx): z.output<NonNullable<S[keyof S]>> => {
    const shape = shapeOf(value);
    const schema = shape === null ? undefined : schemas[shape];
    if (!schema) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data as z.output<NonNullable<S[keyof S]>>;
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  });
}

const stopString = z.string().max(limits.stopLength, { error: `a stop string has at most ${limits.stopLength} characters` });
const StopSchema = byShape('a string or a list of strings', {
  string: stopString,
  list: z.array(stopString).max(limits.stopStrings, { error: `at most ${limits.stopStrings} stop strings` }),
})
  .nullable()
  .optional();

const seedRange = `seeds are ${limits.seed.min} to ${limits.seed.max}: the sampler's generator takes 32-bit seeds, so another seed would repeat one of these`;

/** Fields common to both endpoints. */
const SamplingFields = {
  model: z.string().optional(),
  n: z.number().int().positive().max(limits.n).default(1),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  max_tokens: z.number().int().positive().max(limits.maxTokens).nullable().optional(),
  stop: StopSchema,
  seed: z.number().int().min(limits.seed.min, { error: seedRange }).max(limits.seed.max, { error: seedRange }).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  /** vLLM's extension: logprob tokens are written `token_id:N`. */
  return_tokens_as_token_ids: z.boolean().nullable().optional(),
  frequency_penalty: z.number().nullable().optional(),
  presence_penalty: z.number().nullable().optional(),
  /** Refused unless empty, so its entries are not read (a record schema would copy each of an 8 MB body's keys). */
  logit_bias: z.custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), { error: 'expected an object of token ids to biases' }).nullable().optional(),
};

/**
 * The completions request for a model with these bounds. A prompt is text,
 * token ids, or a list of either; token ids as many as the context cannot fit,
 * nor more prompts than the batch, so each list is refused on its length.
 * (Text is measured against the context before it is tokenized: see the server.)
 */
export function completionRequestSchema({ context, maxBatch }: RequestBounds) {
  const tokenIds = z
    .array(z.number().int())
    .min(1)
    .max(context - 1, { error: `at most ${context - 1} token ids: this model's context is ${context} tokens, and a completion needs one` });
  // Inside a list, any list is token ids (so `[[]]` and `[["a"]]` are told what a token-id prompt needs).
  const prompt = byShape('a string or a list of token ids', { string: z.string(), numbers: tokenIds, list: tokenIds });
  return z
    .object({
      ...SamplingFields,
      prompt: byShape('a string, a list of token ids, or a list of either', {
        string: z.string(),
        numbers: tokenIds,
        list: z
          .array(prompt)
          .min(1)
          .max(maxBatch, { error: `at most ${maxBatch} prompts: this server decodes at most ${maxBatch} sequences at once (--max-batch)` }),
      }),
      /** Top alternatives per token (0–20); the sampled token's logprob is always included when set. */
      logprobs: z.number().int().min(0).max(limits.topLogprobs).nullable().optional(),
      echo: z.boolean().nullable().optional(),
      best_of: z.number().int().nullable().optional(),
      suffix: z.string().nullable().optional(),
    });
}

/** The chat request for a model with these bounds. Every message renders to at least one token, so there are fewer than the context. */
export function chatRequestSchema({ context }: RequestBounds) {
  const content = byShape('a string or a list of content parts', {
    string: z.string(),
    list: z
      .array(z.object({ type: z.string(), text: z.string().optional() }))
      .max(limits.contentParts, { error: `at most ${limits.contentParts} content parts` }),
  });
  return z
    .object({
      ...SamplingFields,
      messages: z
        .array(z.object({ role: z.enum(['system', 'developer', 'user', 'assistant']), content: content.nullable() }))
        .min(1)
        .max(context - 1, { error: `at most ${context - 1} messages: each takes at least one of this model's ${context} context tokens` }),
      max_completion_tokens: z.number().int().positive().max(limits.maxTokens).nullable().optional(),
      logprobs: z.boolean().nullable().optional(),
      top_logprobs: z.number().int().min(0).max(limits.topLogprobs).nullable().optional(),
      tools: z.array(z.unknown()).nullable().optional(),
      response_format: z.object({ type: z.string() }).nullable().optional(),
    });
}

export type CompletionRequest = z.output<ReturnType<typeof completionRequestSchema>>;
export type ChatRequest = z.output<ReturnType<typeof chatRequestSchema>>;

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
