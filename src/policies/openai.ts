import { setMaxListeners } from 'node:events';
import OpenAI from 'openai';
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { ApiCallError, AutodidactError } from '../errors.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';
import { checkOpenAIPolicyConfig, OpenAIPolicyConfigSchema, type OpenAIPolicyConfig } from './openai-config.js';

export { OpenAIPolicyConfigSchema, type OpenAIPolicyConfig };


/** What a policy has spent so far. */
export interface Usage {
  /** Completed API calls. */
  requests: number;
  /** HTTP attempts, retries included. */
  httpAttempts: number;
  promptTokens: number;
  completionTokens: number;
  /** USD, when prices are configured. */
  costUsd: number | null;
}

/** Per-call options: an abort signal cancels the call's requests (and their retries). */
export interface CallOptions {
  signal?: AbortSignal;
}

const LogprobsSchema = z.object({ tokens: z.array(z.string()), token_logprobs: z.array(z.number().nullable()) }).passthrough();
const ChatLogprobsSchema = z.object({ content: z.array(z.object({ token: z.string(), logprob: z.number() }).passthrough()).nullable() }).passthrough();
const UsageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).passthrough();
const CompletionChoiceSchema = z.object({ index: z.number().int().nonnegative().default(0), text: z.string(), finish_reason: z.string().nullable().optional(), logprobs: LogprobsSchema.nullable().optional() }).passthrough();
const ChatChoiceSchema = z
  .object({ index: z.number().int().nonnegative().default(0), message: z.object({ content: z.string().nullable() }).passthrough(), finish_reason: z.string().nullable().optional(), logprobs: ChatLogprobsSchema.nullable().optional() })
  .passthrough();
const ReplySchema = <C extends z.ZodType>(choice: C) => z.object({ choices: z.array(choice), usage: UsageSchema.nullable().optional(), system_fingerprint: z.string().nullable().optional() }).passthrough();
const CompletionReplySchema = ReplySchema(CompletionChoiceSchema);
const ChatReplySchema = ReplySchema(ChatChoiceSchema);
const CompletionChunkSchema = ReplySchema(CompletionChoiceSchema.extend({ text: z.string().default('') }));
const ChatChunkSchema = ReplySchema(
  z.object({ index: z.number().int().nonnegative().default(0), delta: z.object({ content: z.string().nullable().optional() }).passthrough().optional(), finish_reason: z.string().nullable().optional(), logprobs: ChatLogprobsSchema.nullable().optional() }).passthrough(),
);

/** One choice, translated. */
interface Choice {
  index: number;
  text: string;
  finishReason: string | null | undefined;
  /** Token strings as the server wrote them (`token_id:N` when it returns ids). */
  tokens: string[] | null;
  logprobs: (number | null)[] | null;
}

const TOKEN_ID = /^token_id:(\d+)$/;

/**
 * A policy that samples from an OpenAI-compatible server: vLLM, SGLang,
 * llama.cpp's server, Ollama, OpenAI itself, or `autodidact serve`.
 *
 * The official `openai` client does the HTTP: per-request timeouts, abort
 * signals, and retries with exponential backoff on 408, 409, 429, 5xx and
 * connection errors, honouring `Retry-After` / `retry-after-ms`. This adapter
 * only translates: our sampling options to request bodies, replies (plain or
 * streamed) to Completions, and the client's errors to ApiCallError. It adds
 * what the client lacks: bounded concurrency, usage and cost accounting, token
 * ids where the server can give them, and `n` for servers that ignore it.
 */
export class OpenAIPolicy implements Policy {
  readonly name: string;
  version: string;
  readonly config: z.output<typeof OpenAIPolicyConfigSchema>;
  readonly usage: Usage;
  private readonly client: OpenAI;
  private readonly limiter: Limiter;
  private readonly warn: (message: string) => void;
  private readonly warned = new Set<string>();
  private readonly closed = new AbortController();
  /** Cleared when the server refuses `return_tokens_as_token_ids`. */
  private sendTokenIds: boolean;
  /** Cleared when the server answers a prompt list as if it were one prompt. */
  private promptListsAccepted = true;

  /** `fetch` replaces the HTTP transport (tests); `warn` receives each warning once (default: stderr). */
  constructor(config: OpenAIPolicyConfig, options: { fetch?: typeof fetch; warn?: (message: string) => void } = {}) {
    this.config = parseConfig(OpenAIPolicyConfigSchema, config, 'sampler');
    this.name = this.config.model;
    this.version = this.config.version;
    this.usage = { requests: 0, httpAttempts: 0, promptTokens: 0, completionTokens: 0, costUsd: this.config.prices ? 0 : null };
    this.limiter = new Limiter(this.config.concurrency);
    this.warn = options.warn ?? ((message) => process.stderr.write(`autodidact: warning: ${message}\n`));
    this.sendTokenIds = this.config.tokenIds && this.config.logprobs;
    setMaxListeners(0, this.closed.signal);
    checkOpenAIPolicyConfig(this.config);
    const transport = options.fetch ?? globalThis.fetch;
    this.client = new OpenAI({
      baseURL: this.config.baseUrl,
      apiKey: this.config.apiKey ?? process.env.OPENAI_API_KEY ?? 'EMPTY',
      maxRetries: this.config.maxRetries,
      timeout: this.config.timeoutMs,
      fetch: (async (url: string | URL | Request, init?: RequestInit) => {
        this.usage.httpAttempts++;
        return normalizeErrorBody(await transport(url, init));
      }) as typeof fetch,
    });
  }

  /** result[i][j] is sample j of prompt i. Token ids and logprobs are filled when the server returns them. */
  async sample(prompts: readonly string[], options: SamplingOptions, call: CallOptions = {}): Promise<Completion[][]> {
    const signal = call.signal ? AbortSignal.any([call.signal, this.closed.signal]) : this.closed.signal;
    setMaxListeners(0, signal); // every request in flight listens to it: no leak warning at high concurrency
    // Each request gets its own seed, derived from the call's seed and the request's place in the call (the first keeps the call's seed),
    // so two prompts of one call never share a random stream; a call sent as one request samples exactly as the embedded sampler.
    const size = this.promptListsAccepted ? this.config.promptsPerRequest : 1;
    const chunks: string[][] = [];
    for (let i = 0; i < prompts.length; i += size) chunks.push(prompts.slice(i, i + size));
    return (await Promise.all(chunks.map((chunk, c) => this.sampleChunk(chunk, { ...options, seed: requestSeed(options.seed, c * size) }, signal)))).flat();
  }

  /**
   * Swaps the server's weights for a checkpoint's (`POST /update_weights_from_disk`,
   * as SGLang and `autodidact serve` take it) and adopts `version`. The path
   * must be readable by the server.
   */
  async reloadWeights(modelPath: string, version: string): Promise<void> {
    const root = this.config.baseUrl.replace(/\/v1\/?$/, '');
    let reply: unknown;
    try {
      reply = await this.client.post(`${root}/update_weights_from_disk`, { body: { model_path: modelPath, version }, signal: this.closed.signal });
    } catch (error) {
      throw this.translateError(error);
    }
    const parsed = z.object({ success: z.boolean(), message: z.string().optional() }).passthrough().safeParse(reply);
    if (!parsed.success || !parsed.data.success) throw new ApiCallError(root, `update_weights_from_disk did not load ${modelPath}: ${parsed.success ? (parsed.data.message ?? 'no message') : 'malformed reply'}`);
    this.version = version;
  }

  /** Aborts every request in flight and refuses new ones. */
  close(): void {
    this.closed.abort();
  }

  /** Several prompts in one completions request; a server that does not take prompt lists gets them one by one. */
  private async sampleChunk(chunk: string[], options: SamplingOptions, signal: AbortSignal): Promise<Completion[][]> {
    if (chunk.length === 1) return [await this.samplePrompt(chunk[0], options, signal)];
    const choices = await this.limiter.run(() => this.request(chunk, options, signal));
    if (choices.length !== chunk.length * options.n) {
      this.promptListsAccepted = false; // remembered: later calls send one prompt per request
      this.warnOnce('prompt-list', `the server returned ${choices.length} choices for ${chunk.length} prompts × n = ${options.n}: it does not take prompt lists; sending prompts one by one`);
      return Promise.all(chunk.map((prompt, i) => this.samplePrompt(prompt, { ...options, seed: requestSeed(options.seed, i) }, signal)));
    }
    return chunk.map((_, i) => choices.slice(i * options.n, (i + 1) * options.n));
  }

  private async samplePrompt(prompt: string, options: SamplingOptions, signal: AbortSignal): Promise<Completion[]> {
    const out: Completion[] = [];
    while (out.length < options.n) {
      const want = options.n - out.length;
      // Servers that ignore `n` (llama.cpp's, Ollama) return one choice: ask again, with the next seed, for the rest.
      const choices = await this.limiter.run(() => this.request(prompt, { ...options, n: want, seed: options.seed + out.length }, signal));
      if (choices.length === 0) throw new ApiCallError(this.config.baseUrl, 'the reply has no choices');
      if (choices.length < want) this.warnOnce('n', `the server returned ${choices.length} of ${want} choices (it ignores \`n\`); sending one request per missing sample`);
      out.push(...choices.slice(0, want));
    }
    return out;
  }

  private async request(prompt: string | string[], options: SamplingOptions, signal: AbortSignal): Promise<Completion[]> {
    const chat = this.config.api === 'chat';
    const body: Record<string, unknown> = {
      model: this.config.model,
      ...(chat ? { messages: [...(this.config.systemPrompt ? [{ role: 'system', content: this.config.systemPrompt }] : []), { role: 'user', content: prompt }] } : { prompt }),
      n: options.n,
      temperature: options.temperature,
      top_p: options.topP ?? 1,
      max_tokens: options.maxTokens,
      seed: options.seed,
      ...(options.stop && options.stop.length > 0 ? { stop: options.stop } : {}),
      ...(this.config.logprobs ? (chat ? { logprobs: true } : { logprobs: 1 }) : {}),
      ...(this.sendTokenIds ? { return_tokens_as_token_ids: true } : {}),
      ...(this.config.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      ...this.config.extraBody,
    };
    let reply: { choices: Choice[]; usage: z.infer<typeof UsageSchema> | null; fingerprint: string | null };
    try {
      reply = this.config.stream ? await this.streamed(body, chat, signal) : await this.whole(body, chat, signal);
    } catch (error) {
      if (this.sendTokenIds && error instanceof OpenAI.APIError && error.status === 400 && /return_tokens_as_token_ids/.test(error.message)) {
        this.sendTokenIds = false;
        this.warnOnce('token-ids', `the server refuses \`return_tokens_as_token_ids\`: completions carry text and logprobs but no token ids (${error.message})`);
        return this.request(prompt, options, signal);
      }
      throw this.translateError(error);
    }
    this.account(reply.usage);
    return reply.choices.sort((a, b) => a.index - b.index).map((choice) => this.completion(choice, reply.fingerprint));
  }

  private async whole(body: Record<string, unknown>, chat: boolean, signal: AbortSignal) {
    const raw: unknown = chat
      ? await this.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, { signal })
      : await this.client.completions.create(body as unknown as OpenAI.CompletionCreateParamsNonStreaming, { signal });
    if (chat) {
      const reply = this.validate(ChatReplySchema, raw);
      return {
        choices: reply.choices.map((c) => ({ index: c.index, text: c.message.content ?? '', finishReason: c.finish_reason, tokens: c.logprobs?.content?.map((t) => t.token) ?? null, logprobs: c.logprobs?.content?.map((t) => t.logprob) ?? null })),
        usage: reply.usage ?? null,
        fingerprint: reply.system_fingerprint ?? null,
      };
    }
    const reply = this.validate(CompletionReplySchema, raw);
    return {
      choices: reply.choices.map((c) => ({ index: c.index, text: c.text, finishReason: c.finish_reason, tokens: c.logprobs?.tokens ?? null, logprobs: c.logprobs?.token_logprobs ?? null })),
      usage: reply.usage ?? null,
      fingerprint: reply.system_fingerprint ?? null,
    };
  }

  /** Accumulates a streamed reply: text deltas, logprob entries and the finish reason per choice index; usage from the last chunk. */
  private async streamed(body: Record<string, unknown>, chat: boolean, signal: AbortSignal) {
    const stream = chat
      ? await this.client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming, { signal })
      : await this.client.completions.create(body as unknown as OpenAI.CompletionCreateParamsStreaming, { signal });
    const choices = new Map<number, Choice>();
    let usage: z.infer<typeof UsageSchema> | null = null;
    let fingerprint: string | null = null;
    const entry = (index: number) => {
      let choice = choices.get(index);
      if (!choice) choices.set(index, (choice = { index, text: '', finishReason: null, tokens: null, logprobs: null }));
      return choice;
    };
    const addLogprobs = (choice: Choice, tokens: string[] | undefined, logprobs: (number | null)[] | undefined) => {
      if (!tokens || !logprobs) return;
      (choice.tokens ??= []).push(...tokens);
      (choice.logprobs ??= []).push(...logprobs);
    };
    for await (const raw of stream as AsyncIterable<unknown>) {
      if (chat) {
        const chunk = this.validate(ChatChunkSchema, raw);
        for (const c of chunk.choices) {
          const choice = entry(c.index);
          choice.text += c.delta?.content ?? '';
          choice.finishReason = c.finish_reason ?? choice.finishReason;
          addLogprobs(choice, c.logprobs?.content?.map((t) => t.token), c.logprobs?.content?.map((t) => t.logprob));
        }
        usage = chunk.usage ?? usage;
        fingerprint = chunk.system_fingerprint ?? fingerprint;
      } else {
        const chunk = this.validate(CompletionChunkSchema, raw);
        for (const c of chunk.choices) {
          const choice = entry(c.index);
          choice.text += c.text;
          choice.finishReason = c.finish_reason ?? choice.finishReason;
          addLogprobs(choice, c.logprobs?.tokens, c.logprobs?.token_logprobs);
        }
        usage = chunk.usage ?? usage;
        fingerprint = chunk.system_fingerprint ?? fingerprint;
      }
    }
    return { choices: [...choices.values()], usage, fingerprint };
  }

  private completion(choice: Choice, fingerprint: string | null): Completion {
    let tokens: number[] = [];
    let logprobs: number[] = [];
    if (this.config.logprobs) {
      if (!choice.logprobs || !choice.tokens) this.warnOnce('logprobs', 'the server returns no logprobs: completions carry text only');
      else {
        // A null logprob (some servers give one for the first token of an echoed prompt) has no value to train on: drop the entries only if any is null.
        logprobs = choice.logprobs.every((x) => x !== null) ? (choice.logprobs as number[]) : [];
        const ids = choice.tokens.map((t) => TOKEN_ID.exec(t));
        if (ids.every((m) => m !== null)) tokens = ids.map((m) => Number(m![1]));
        else this.warnOnce('token-ids', 'the server returns token strings, not ids: completions carry text and logprobs but no token ids (vLLM and `autodidact serve` return ids with `return_tokens_as_token_ids`)');
      }
    }
    const version = this.config.fingerprintIsVersion && fingerprint ? { policyVersion: fingerprint } : {};
    return { text: choice.text, tokens, logprobs, finishReason: choice.finishReason === 'length' ? 'length' : 'stop', ...version };
  }

  private account(usage: z.infer<typeof UsageSchema> | null): void {
    this.usage.requests++;
    if (!usage) return this.warnOnce('usage', 'the server reports no token usage; usage accounting counts requests only');
    this.usage.promptTokens += usage.prompt_tokens;
    this.usage.completionTokens += usage.completion_tokens;
    const prices = this.config.prices;
    if (prices && this.usage.costUsd !== null) this.usage.costUsd += (usage.prompt_tokens * prices.prompt + usage.completion_tokens * prices.completion) / 1e6;
  }

  private validate<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new ApiCallError(this.config.baseUrl, `malformed reply: \`${issue.path.join('.') || '(body)'}\`: ${issue.message} (is ${this.config.baseUrl} an OpenAI-compatible server?)`);
  }

  private translateError(error: unknown): Error {
    const url = this.config.baseUrl;
    if (error instanceof ApiCallError) return error;
    if (error instanceof OpenAI.APIUserAbortError) return new AutodidactError(`${url}: request aborted`, { cause: error });
    if (error instanceof OpenAI.APIConnectionTimeoutError) return new ApiCallError(url, `timed out after ${this.config.timeoutMs} ms (${this.config.maxRetries} retries; raise sampler.timeoutMs)`, { isRetryable: true, cause: error });
    if (error instanceof OpenAI.APIConnectionError) return new ApiCallError(url, `connection failed after ${this.config.maxRetries} retries: ${String((error as { cause?: unknown }).cause ?? error.message)} (is the server running?)`, { isRetryable: true, cause: error });
    if (error instanceof OpenAI.APIError) {
      const status = error.status;
      const retryable = status === 408 || status === 409 || status === 429 || (status !== undefined && status >= 500);
      return new ApiCallError(url, `HTTP ${status}${retryable ? ` after ${this.config.maxRetries} retries` : ''}: ${error.message}`, { status, isRetryable: retryable, cause: error });
    }
    return error instanceof Error ? error : new AutodidactError(String(error));
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(message);
  }
}

/** The seed of the request at `offset` in a call: the call's seed for the first, a hash of (seed, offset) for the others (31 bits, as servers take). */
export function requestSeed(seed: number, offset: number): number {
  if (offset === 0) return seed;
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(offset, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) & 0x7fffffff;
}

/**
 * Error bodies come as OpenAI's `{"error": {"message", …}}` or, from older vLLM
 * and some proxies, as a top-level `{"message", "type", "code"}`. The client
 * reads only the first; the second is rewritten into it so its message is not lost.
 */
async function normalizeErrorBody(response: Response): Promise<Response> {
  if (response.ok) return response;
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const flat = body as { error?: unknown; message?: unknown; detail?: unknown } | undefined;
  const message = flat && flat.error === undefined ? (flat.message ?? flat.detail) : undefined;
  const fixed = message !== undefined ? JSON.stringify({ error: { ...(flat as object), message: typeof message === 'string' ? message : JSON.stringify(message) } }) : text;
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  return new Response(fixed, { status: response.status, statusText: response.statusText, headers });
}

/** At most `limit` tasks run at once; the rest wait in arrival order. */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next waiter, so a newcomer cannot slip in between.
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
