/** Autodidact: language models and agents that improve themselves. Public API. */
export { AutodidactError, InvalidConfigError, InvalidArgumentError, CheckpointFormatError, TaskFileError } from './errors.js';
export type { Datum, ForwardOptions, ForwardResult, Loss, LossFunction, ForwardBackwardResult, TrainingBackend } from './spec/training-backend.js';
export { EmbeddedBackend } from './engine/backend.js';
export { EngineCore, datumFromSequence, type EngineOptions } from './engine/engine.js';
export { ModelConfigSchema, resolveModelConfig, type ModelConfig, type ModelConfigInput } from './engine/config.js';
export { Model, parameterCount } from './engine/model.js';
export { AdamW, learningRateAt, type AdamParams, type OptimStepResult, type Schedule } from './engine/optimizer.js';
export { sampleSequences, type SampleOptions, type SampledSequence } from './engine/sampler.js';
export { ByteTokenizer, type Tokenizer } from './engine/tokenizer.js';
export { saveCheckpoint, loadCheckpoint } from './engine/checkpoint.js';
export { getKernels, defaultThreads, type Kernels } from './engine/kernels.js';
export type { Task, TaskFamily, GenerateOptions } from './spec/task.js';
export type { Verification, Verifier, SyncVerifier } from './spec/verifier.js';
export { additionFamily, scratchpad, type AdditionFormat } from './tasks/addition.js';
export { countdownFamily, countdownVerifier, parseExpression } from './tasks/countdown.js';
export { stringFamily } from './tasks/strings.js';
export { loadTaskFile, TaskLineSchema } from './tasks/jsonl.js';
export { matchVerifier, numericVerifier, extractAnswer, parseNumber, type MatchOptions } from './verifiers/match.js';
