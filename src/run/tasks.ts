/**
 * The tasks a run draws: the held-out set (drawn once, never trained on), the
 * warm-up's labeled tasks, each round's draws (none of whose prompts is held
 * out), and the checks that refuse, before any training, a run whose rounds
 * would find no task to train on.
 */
import { curriculumDifficulties, type Recipe } from '../recipe/schema.js';
import type { Task } from '../spec/task.js';
import type { TaskSource } from '../spec/task-source.js';
import type { LoopParts } from './context.js';
import { seedFor } from './seeds.js';
import { InvalidConfigError } from '../errors.js';

/** Held-out tasks: `eval.count` per reported difficulty, from a split no round draws from; a difficulty the source has no task of is refused. */
export function heldOutTasks(parts: LoopParts): Task[] {
  const { recipe, source } = parts;
  return evalDifficulties(recipe).flatMap((difficulty) => {
    const tasks = source.tasks({ count: recipe.eval.count, difficulty, seed: seedFor(recipe.seed, 'heldout', difficulty), split: 'heldout' });
    if (tasks.length === 0) throw noTasksError(parts, difficulty, recipe.eval.difficulties ? 'eval.difficulties' : difficultyField(recipe, difficulty), 0);
    return tasks;
  });
}

/** The difficulties reported: `eval.difficulties`, else the warm-up's and the curriculum's. */
export function evalDifficulties(recipe: Recipe): number[] {
  if (recipe.eval.difficulties) return recipe.eval.difficulties;
  if (recipe.selfplay) return [1, 2, 3]; // the held-out programs' deduction, abduction and induction tasks
  const set = new Set<number>(recipe.warmup?.difficulties ?? []);
  for (const d of curriculumDifficulties(recipe.curriculum)) set.add(d);
  return [...set].sort((a, b) => a - b);
}

export function labeledTasks(parts: LoopParts, excluded: Set<string>): Task[] {
  const warmup = parts.recipe.warmup;
  if (!warmup) return [];
  return warmup.difficulties.flatMap((difficulty, i) => {
    const { tasks, offered } = drawTasks(parts.source, { count: typeof warmup.count === 'number' ? warmup.count : warmup.count[i], difficulty, seed: seedFor(parts.recipe.seed, 'labeled', difficulty), split: 'labeled' }, excluded);
    if (tasks.length === 0) throw noTasksError(parts, difficulty, 'warmup.difficulties', offered);
    return tasks;
  });
}

/**
 * Refuses, before the warm-up, a run whose rounds would train on nothing: a
 * difficulty the curriculum reaches at which the source has no task, or gives
 * only tasks whose prompts are held out. Draws what round 1 would.
 */
export function checkTrainingSupply(parts: LoopParts, excluded: Set<string>): void {
  const { recipe } = parts;
  if (recipe.selfplay || recipe.rounds === 0) return; // self-play proposes its own tasks
  for (const difficulty of curriculumDifficulties(recipe.curriculum)) {
    const { tasks, offered } = drawTasks(parts.source, { count: 1, difficulty, seed: seedFor(recipe.seed, 'tasks', 1, difficulty), split: 'round1' }, excluded);
    if (tasks.length === 0) throw noTasksError(parts, difficulty, difficultyField(recipe, difficulty), offered);
  }
}

/** The curriculum field that asks for a difficulty. */
export function difficultyField(recipe: Recipe, difficulty: number): string {
  const c = recipe.curriculum;
  if (c.kind === 'fixed') return c.difficulty === difficulty ? 'curriculum.difficulty' : 'warmup.difficulties';
  if (c.kind === 'sec') return c.categories.includes(`d${difficulty}`) ? 'curriculum.categories' : 'warmup.difficulties';
  return difficulty === c.start ? 'curriculum.start' : difficulty >= c.start && difficulty <= c.max ? 'curriculum.max' : 'warmup.difficulties';
}

/** Why a draw at `difficulty` came back empty: the source has no such task, or every one it gave (`offered`) is held out. */
export function noTasksError(parts: LoopParts, difficulty: number, field: string, offered: number): InvalidConfigError {
  const { recipe, source } = parts;
  const named = recipe.tasks.file !== undefined ? `the task file ${recipe.tasks.file}` : `the task family ${recipe.tasks.family}`;
  if (offered === 0) {
    return new InvalidConfigError(field, `asks for difficulty ${difficulty}, but ${named} has no task of it (its difficulties run ${source.difficulty.min}–${source.difficulty.max}); ask for difficulties it has, or add tasks`);
  }
  const fix = recipe.tasks.file !== undefined ? `give the file more tasks of difficulty ${difficulty} than eval.count = ${recipe.eval.count}, or lower eval.count` : 'make its prompts vary with the seed, or lower eval.count';
  return new InvalidConfigError(
    recipe.tasks.file !== undefined ? 'tasks.file' : 'tasks.family',
    `${named} gave ${offered} tasks of difficulty ${difficulty} for ${field === 'warmup.difficulties' ? 'the warm-up' : 'training'}, and every one has a prompt of the held-out set, which no round trains on: ${fix}`,
  );
}

/** `count` tasks from a source, none of whose prompts is held out (asks for more until it has them, or the source runs dry); `offered` is how many the source gave last. */
export function drawTasks(source: TaskSource, request: { count: number; difficulty: number; seed: number; split: string }, excluded: Set<string>): { tasks: Task[]; offered: number } {
  let ask = request.count;
  for (let attempt = 0; ; attempt++) {
    const offered = source.tasks({ ...request, count: ask });
    const tasks = offered.filter((t) => !excluded.has(t.prompt));
    if (tasks.length >= request.count || attempt === 3) return { tasks: tasks.slice(0, request.count), offered: offered.length };
    ask *= 2;
  }
}
