/**
 * The boundary where a user's task family module (`tasks.family:
 * ./my-family.js`) enters the loop. Everything it gives back is checked against
 * the spec's shapes (src/spec/task.ts, verifier.ts) and everything it throws
 * becomes a UserCodeError naming the module, the function and the task, so a
 * bug in user code reads as one, not as a stack trace from the run store.
 */
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { InvalidConfigError, UserCodeError } from '../errors.js';
import { checkConfig } from '../config/validate.js';
import type { Task } from '../spec/task.js';
import type { GenerateOptions, TaskFamily } from '../spec/task-source.js';
import type { Verification, VerificationGroup, Verifier } from '../spec/verifier.js';

const fn = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === 'function', 'expected a function');

const FamilySchema = z.object({
  name: z.string().min(1),
  difficulty: z.object({ min: z.number(), max: z.number() }),
  generate: fn,
  verifier: z.object({ name: z.string(), version: z.string(), verify: fn, verifyGroups: fn.optional() }),
});

const TaskSchema = z.object({
  id: z.string().min(1),
  family: z.string(),
  prompt: z.string().min(1),
  answer: z.string().optional(),
  solution: z.string().optional(),
  difficulty: z.number().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});

const VerificationSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('scored'),
    reward: z.number().min(0).max(1),
    pass: z.boolean(),
    feedback: z.string(),
    extracted: z.string().optional(),
    rewardParts: z.array(z.number().min(0).max(1)).optional(),
  }),
  z.object({ status: z.literal('error'), error: z.string() }),
  z.object({ status: z.literal('not-applicable'), reason: z.string() }),
]);

const VERIFICATION_SHAPES = "{ status: 'scored', reward (0–1), pass, feedback }, { status: 'error', error } or { status: 'not-applicable', reason }";

/** A short, printable view of what user code returned. */
function preview(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (isThenable(value)) return 'a Promise';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `value` checked against `schema`, or a UserCodeError saying which field of what `fn` returned is wrong. */
function checked<S extends z.ZodType>(schema: S, value: unknown, what: string, module: string, fnName: string, expected: string, taskId?: string): z.output<S> {
  const result = checkConfig(schema, value, what);
  if (result.ok) return result.data;
  throw new UserCodeError(module, fnName, `returned ${preview(value)}, not ${expected} (\`${result.field}\` ${result.message})`, { taskId });
}

/**
 * Imports a family module and builds its family: the default export is a
 * TaskFamily or a function (sync or async) of the recipe's `tasks.options`
 * returning one. The family handed back checks every call.
 */
export async function loadUserFamily(path: string, options: Record<string, unknown>): Promise<TaskFamily> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new InvalidConfigError('tasks.family', `cannot import ${path}: ${messageOf(error)}`);
  }
  const exported = module.default;
  let family: unknown = exported;
  if (typeof exported === 'function') {
    try {
      family = await (exported as (o: Record<string, unknown>) => unknown)(options);
    } catch (error) {
      throw new UserCodeError(path, 'the default export (the family factory)', `threw: ${messageOf(error)}`, { cause: error });
    }
  }
  const expected = 'a TaskFamily ({ name, difficulty: { min, max }, generate, verifier: { name, version, verify } })';
  const shape = checked(FamilySchema, family, 'family', path, typeof exported === 'function' ? 'the default export (the family factory)' : 'the default export', expected);
  if (shape.difficulty.min > shape.difficulty.max) throw new UserCodeError(path, 'the default export', `gives difficulty.min ${shape.difficulty.min} above difficulty.max ${shape.difficulty.max}`);
  return guardFamily(family as TaskFamily, path);
}

/** A family whose generate and verifier are checked and whose exceptions name the module, the function and the task. */
function guardFamily(family: TaskFamily, module: string): TaskFamily {
  // Ids key the run store's samples: one id is one task in every call (any split, seed or difficulty).
  const taskOfId = new Map<string, string>();
  return {
    name: family.name,
    difficulty: { min: family.difficulty.min, max: family.difficulty.max },
    verifier: guardVerifier(family.verifier, module),
    generate(options: GenerateOptions): Task[] {
      let tasks: unknown;
      try {
        tasks = family.generate(options);
      } catch (error) {
        throw new UserCodeError(module, 'generate', `threw for ${JSON.stringify(options)}: ${messageOf(error)}`, { cause: error });
      }
      if (isThenable(tasks)) throw new UserCodeError(module, 'generate', 'returned a Promise; generate is synchronous and returns an array of tasks');
      const valid = checked(z.array(TaskSchema), tasks, 'tasks', module, 'generate', 'an array of tasks ({ id, family, prompt, answer?, difficulty? })');
      const inCall = new Set<string>();
      for (const task of valid) {
        if (inCall.has(task.id)) throw new UserCodeError(module, 'generate', `returned two tasks with id "${task.id}" for ${JSON.stringify(options)}; ids must be unique (build them from options.split, options.seed, the difficulty and the index)`);
        inCall.add(task.id);
        const key = `${task.difficulty}\u0000${task.prompt}`;
        const before = taskOfId.get(task.id);
        if (before !== undefined && before !== key) {
          throw new UserCodeError(module, 'generate', `returned id "${task.id}" for two different tasks (prompt ${JSON.stringify(task.prompt)} now, ${JSON.stringify(before.split('\u0000')[1])} before); ids must be unique within the family (build them from options.split, options.seed, the difficulty and the index)`);
        }
        taskOfId.set(task.id, key);
      }
      return tasks as Task[];
    },
  };
}

function guardVerifier(verifier: Verifier, module: string): Verifier {
  const verification = (value: unknown, fnName: string, taskId: string) => checked(VerificationSchema, value, 'verification', module, fnName, `a Verification (${VERIFICATION_SHAPES})`, taskId) as Verification;
  const guarded: Verifier = {
    name: verifier.name,
    version: verifier.version,
    // Synchronous when the user's verify is (warmup.reflectionShare needs a synchronous verifier).
    verify(task: Task, completion: string): Verification | Promise<Verification> {
      const threw = (error: unknown) =>
        new UserCodeError(module, 'verifier.verify', `threw: ${messageOf(error)}; a verifier that cannot score a completion returns { status: 'error', error } instead`, { taskId: task.id, cause: error });
      let result: unknown;
      try {
        result = verifier.verify(task, completion);
      } catch (error) {
        throw threw(error);
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          (value) => verification(value, 'verifier.verify', task.id),
          (error: unknown) => {
            throw threw(error);
          },
        );
      }
      return verification(result, 'verifier.verify', task.id);
    },
  };
  if (verifier.verifyGroups) {
    guarded.verifyGroups = async (groups: readonly VerificationGroup[]): Promise<Verification[][]> => {
      let result: unknown;
      try {
        result = await verifier.verifyGroups!(groups);
      } catch (error) {
        throw new UserCodeError(module, 'verifier.verifyGroups', `threw: ${messageOf(error)}; a verifier that cannot score a completion returns { status: 'error', error } for it instead`, { taskId: groups[0]?.task.id, cause: error });
      }
      if (!Array.isArray(result) || result.length !== groups.length) {
        throw new UserCodeError(module, 'verifier.verifyGroups', `returned ${preview(result)} for ${groups.length} groups; it returns one array of verdicts per group`);
      }
      return groups.map((group, i) => {
        const verdicts: unknown = result[i];
        if (!Array.isArray(verdicts) || verdicts.length !== group.completions.length) {
          throw new UserCodeError(module, 'verifier.verifyGroups', `returned ${preview(verdicts)} for ${group.completions.length} completions; it returns one verdict per completion`, { taskId: group.task.id });
        }
        return verdicts.map((v) => verification(v, 'verifier.verifyGroups', group.task.id));
      });
    };
  }
  return guarded;
}
