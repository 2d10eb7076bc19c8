import { z } from 'zod';
import { OpenAIPolicyConfigSchema } from '../policies/openai-config.js';

/**
 * Where the loop's samples come from. `embedded` (default): the training
 * engine's own KV-cached sampler. `llamacpp`: llama.cpp through node-llama-cpp,
 * loading each checkpoint the loop writes as GGUF. `openai`: an OpenAI-compatible server
 * (`autodidact serve`, or another server with SGLang's `/update_weights_from_disk`; only
 * `autodidact serve` is tested) while
 * training stays embedded: with `reload`, the loop writes each new weights'
 * checkpoint and asks the server to load it (`POST /update_weights_from_disk`)
 * before sampling again, and checks every reply's version.
 */
export const SamplerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('embedded') }).strict(),
  OpenAIPolicyConfigSchema.omit({ version: true })
    .extend({
      kind: z.literal('openai'),
      /** Reload the server's weights whenever the loop's change (the server must serve this run's model and read its checkpoints). */
      reload: z.boolean().default(true),
    })
    .strict(),
  z
    .object({
      /** llama.cpp in-process (node-llama-cpp): each checkpoint the loop writes is exported to GGUF and loaded. */
      kind: z.literal('llamacpp'),
      /** CPU threads of llama.cpp (1 on 2 cores: more fight Node's main thread). */
      threads: z.number().int().positive().default(1),
      /** Sequences decoded together; 1 is bit-for-bit reproducible. */
      parallel: z.number().int().positive().default(1),
      /** KV cache precision (F32 matches the engine's numerics). */
      kvCache: z.enum(['F32', 'F16']).default('F32'),
    })
    .strict(),
]);
