/**
 * A recipe's method and the sections it reads. `method:` names one of the
 * four (src/run/methods/); a recipe without it gets the method its sections
 * imply (`rl` → policy-gradient, `selfplay` → self-play, `preference` →
 * preference, none → self-training), so recipes written before the field
 * existed keep working. A section the method does not read is an error naming
 * the section and the method, never silently ignored.
 */
import { InvalidConfigError } from '../errors.js';
import type { MethodName, Recipe } from './schema.js';

/** Each method's own section: the one that configures its update (self-training's is `train`, which has a default). */
const OWN_SECTION = { 'policy-gradient': 'rl', 'self-play': 'selfplay', preference: 'preference' } as const satisfies Partial<Record<MethodName, keyof Recipe>>;

/**
 * Sections (or fields, dotted) a method does not read, with what it does
 * instead. Another method's own section is refused by `checkMethod` before this.
 */
const UNUSED: Record<MethodName, Record<string, string>> = {
  'self-training': {},
  'policy-gradient': {
    train: 'it updates by `rl` steps (rl.learningRate, rl.steps), not by fine-tuning on an accepted set',
    accept: 'every scored completion of a group trains with its advantage; nothing is accepted or rejected',
    rationalize: 'rationalization trains hinted answers as they are, which a policy gradient has no term for',
  },
  'self-play': {
    train: 'it updates by `selfplay` steps (selfplay.learningRate), not by fine-tuning',
    accept: 'the executor scores every proposal and answer; nothing is accepted or rejected',
    warmup: 'it uses no labeled data (use selfplay.formatPrior, or model.checkpoint for a pretrained start)',
    reflect: 'reflection revises failed attempts at drawn tasks; self-play proposes its own',
    rationalize: 'rationalization hints a drawn task\'s answer; self-play proposes its own tasks',
    verifier: 'the executor scores proposals and answers',
    'sample.n': 'it draws selfplay.rollouts answers per task and one proposal per slot',
    'sample.temperature': 'each role samples at its own selfplay.temperature (propose, solve)',
    'sample.chunk': 'it samples selfplay.batch slots per step',
  },
  preference: {
    train: 'it trains preference.steps steps on pairs of a passing and a failing attempt (preference.learningRate)',
    accept: 'it pairs a passing and a failing attempt instead of accepting passing ones',
    rationalize: 'rationalization trains hinted answers as they are; pairs are the policy\'s own attempts',
  },
};

/** The method a recipe runs: `method:` when given, else the one its sections imply. */
export function recipeMethod(recipe: Pick<Recipe, 'method' | 'rl' | 'selfplay' | 'preference'>): MethodName {
  if (recipe.method) return recipe.method;
  if (recipe.selfplay) return 'self-play';
  if (recipe.rl) return 'policy-gradient';
  if (recipe.preference) return 'preference';
  return 'self-training';
}

/** Whether `raw` (the recipe as written, overrides applied) sets the dotted `field`. */
function written(raw: Record<string, unknown>, field: string): boolean {
  let node: unknown = raw;
  for (const key of field.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return node !== undefined;
}

/**
 * One method per recipe: its own section present (when it has one), no other
 * method's section, and no section it does not read (`raw` tells the ones
 * the recipe wrote from defaults). Errors name the field, the method and the fix.
 */
export function checkMethod(recipe: Recipe, raw: Record<string, unknown>): MethodName {
  const sections = (Object.entries(OWN_SECTION) as [Exclude<MethodName, 'self-training'>, keyof Recipe][]).filter(([, section]) => recipe[section] !== undefined);
  if (!recipe.method && sections.length > 1) {
    const [[a, first], [b, second]] = sections;
    throw new InvalidConfigError(second, `makes this a ${b} recipe, but \`${first}\` makes it a ${a} one; a recipe runs one method: remove \`${second}\` or \`${first}\``);
  }
  const method = recipeMethod(recipe);
  const own = method === 'self-training' ? undefined : OWN_SECTION[method];
  if (own && recipe[own] === undefined) throw new InvalidConfigError(own, `is missing: method ${method} is configured by its \`${own}\` section; add it (see recipes/ for one of each), or choose another method`);
  for (const [other, section] of sections) {
    if (other !== method) throw new InvalidConfigError(section, `configures the ${other} method, but this recipe's method is ${method}; a recipe runs one method: remove \`${section}\`, or set method: ${other}`);
  }
  for (const [field, instead] of Object.entries(UNUSED[method])) {
    if (written(raw, field)) throw new InvalidConfigError(field, `is not read by the ${method} method (${instead}); remove \`${field}\``);
  }
  return method;
}
