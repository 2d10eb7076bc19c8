/**
 * One error base class with specific subclasses, so callers can branch on
 * `instanceof` and users read what went wrong and how to fix it.
 */
export class AutodidactError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value is missing, unknown or has the wrong type or range. */
export class InvalidConfigError extends AutodidactError {
  /** Dotted path of the offending field, e.g. `model.dModel`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`Invalid config field \`${field}\`: ${message}`);
    this.field = field;
  }
}

/** Arguments of an API call are invalid (a token out of range, a sequence too long, …). */
export class InvalidArgumentError extends AutodidactError {
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`Invalid argument \`${argument}\`: ${message}`);
    this.argument = argument;
  }
}

/** A checkpoint directory is missing files, or holds tensors with wrong names, shapes or types. */
export class CheckpointFormatError extends AutodidactError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`Bad checkpoint at ${path}: ${message}`);
    this.path = path;
  }
}

/** A task file (JSONL) has a malformed line; names the file, the line and the field. */
export class TaskFileError extends AutodidactError {
  readonly path: string;
  readonly line: number;
  constructor(path: string, line: number, message: string) {
    super(`${path}:${line}: ${message}`);
    this.path = path;
    this.line = line;
  }
}

/** A recipe file cannot be read or is not valid YAML; names the file. */
export class RecipeFileError extends AutodidactError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/**
 * An HTTP API call failed (after the client's retries) or its reply was not
 * what the protocol promises. Only 408, 409, 429, 5xx and connection errors are
 * retryable; `isRetryable` says whether this one was.
 */
export class ApiCallError extends AutodidactError {
  readonly url: string;
  /** HTTP status, or undefined for connection errors, timeouts and malformed replies. */
  readonly status: number | undefined;
  readonly isRetryable: boolean;
  constructor(url: string, message: string, options: { status?: number; isRetryable?: boolean; cause?: unknown } = {}) {
    super(`${url}: ${message}`, { cause: options.cause });
    this.url = url;
    this.status = options.status;
    this.isRetryable = options.isRetryable ?? false;
  }
}

/** A directory cannot serve as a run directory (a file, another program's files, an identity that does not match its store); names it and the fix. */
export class RunDirectoryError extends AutodidactError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** A run store (run.sqlite) is not a readable SQLite database, another program's database, or records a checkpoint outside its run; names the file. */
export class RunStoreError extends AutodidactError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/**
 * User code (a task family module named in a recipe) threw, or returned
 * something other than the spec's shapes; names the module, the function and,
 * where there is one, the task.
 */
export class UserCodeError extends AutodidactError {
  readonly module: string;
  readonly function: string;
  readonly taskId: string | undefined;
  constructor(module: string, fn: string, message: string, options: { taskId?: string; cause?: unknown } = {}) {
    super(`${module}: ${fn}${options.taskId !== undefined ? ` on task "${options.taskId}"` : ''} ${message}`, { cause: options.cause });
    this.module = module;
    this.function = fn;
    this.taskId = options.taskId;
  }
}

/**
 * A policy cannot do what the recipe asks of it: it returned completions
 * without token ids and logprobs, which policy-gradient updates (RL, self-play)
 * need. Names the policy and the fix.
 */
export class PolicyCapabilityError extends AutodidactError {
  /** The policy's name, where the caller knows it. */
  readonly policy: string | undefined;
  constructor(policy: string | undefined, message: string) {
    super(policy !== undefined ? `policy ${policy}: ${message}` : message);
    this.policy = policy;
  }
}

/**
 * A policy outside the engine (a served sampler, a judge) failed to answer, or
 * answered other than the loop needs (made with other weights, the wrong number
 * of samples). `source` names it, e.g. `judge gpt` or `remote sampler local`.
 */
export class PolicyReplyError extends AutodidactError {
  readonly source: string;
  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(`${source}: ${message}`, options);
    this.source = source;
  }
}

/**
 * A bug in Autodidact: please report it. An internal invariant broke (a call
 * out of order, shapes our own code built that do not agree); no input of the
 * user's causes it. Deliberately not an AutodidactError, so the CLI can tell
 * a bug (message, hint to report, stack with --debug) from a user error.
 */
export class InternalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InternalError';
  }
}
