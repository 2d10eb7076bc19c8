import { z } from 'zod';
import { InvalidConfigError } from '../errors.js';

/** Settings of an OpenAI-compatible policy (src/policies/openai.ts); also the recipe's `sampler:` section. */
export const OpenAIPolicyConfigSchema = z
  .object({
    /** Base URL of the API, up to and including `/v1`, e.g. `http://127.0.0.1:8000/v1`. */
    baseUrl: z.string().url(),
    /** Model name as the server knows it (`GET /v1/models`). */
    model: z.string().min(1),
    /** `completions` sends the prompt as it is (what training on prompt + completion needs); `chat` wraps it as one user message. */
    api: z.enum(['completions', 'chat']).default('completions'),
    /** API key; default: the OPENAI_API_KEY environment variable, else `EMPTY` (local servers ignore it). */
    apiKey: z.string().optional(),
    /** Requests in flight at most. */
    concurrency: z.number().int().positive().default(8),
    /** Retries per request on 408/409/429/5xx and connection errors. */
    maxRetries: z.number().int().nonnegative().default(4),
    /** Per-request timeout (each attempt), in milliseconds. */
    timeoutMs: z.number().int().positive().default(120_000),
    /** Stream replies (server-sent events) instead of waiting for whole bodies. */
    stream: z.boolean().default(false),
    /** Ask for the sampled tokens' logprobs (needed to train on the samples). */
    logprobs: z.boolean().default(true),
    /** Ask for token ids (vLLM's and `autodidact serve`'s `return_tokens_as_token_ids`); dropped with a warning when the server refuses it. */
    tokenIds: z.boolean().default(true),
    /** System message put before the prompt (chat only). */
    systemPrompt: z.string().optional(),
    /** Prices in USD per million tokens, for cost accounting. */
    prices: z.object({ prompt: z.number().nonnegative(), completion: z.number().nonnegative() }).strict().optional(),
    /** Extra fields merged into every request body (server-specific parameters such as `top_k`). */
    extraBody: z.record(z.string(), z.unknown()).default({}),
    /** Prompts sent together in one completions request (the API takes a list); > 1 needs `api: completions`. */
    promptsPerRequest: z.number().int().positive().default(1),
    /**
     * Take each reply's `system_fingerprint` as the version of the weights that wrote it
     * (what `autodidact serve` sends). Other servers send a build fingerprint there, so
     * it is off by default; a recipe's `sampler.reload` turns it on.
     */
    fingerprintIsVersion: z.boolean().default(false),
    /** The policy's version label when the server does not report one per reply. */
    version: z.string().min(1).default('remote'),
  })
  .strict();

export type OpenAIPolicyConfig = z.input<typeof OpenAIPolicyConfigSchema>;

/** Checks across fields that the schema alone does not express; `prefix` is where the settings sit (e.g. `sampler`). */
export function checkOpenAIPolicyConfig(config: Pick<z.output<typeof OpenAIPolicyConfigSchema>, 'api' | 'promptsPerRequest'>, prefix = 'sampler'): void {
  if (config.api === 'chat' && config.promptsPerRequest > 1) throw new InvalidConfigError(`${prefix}.promptsPerRequest`, 'the chat API takes one conversation per request; use 1, or `api: completions`');
}
