/**
 * Calibration of the demo (`autodidact demo`): runs it with settings other
 * than the defaults, given as JSON merged into DEMO_SETTINGS, and prints the
 * demo's tables. docs/results.md records the runs and their commands.
 *
 *   node dist/bench/demo-calibration.js '{"labels":{"count":100,"difficulties":[1,2,3]}}' [--methods rest-em] [--seed 0] [--out runs/calibration]
 */
import { DEMO_SETTINGS, runDemo, type DemoSettings } from '../src/cli/demo.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const patch = JSON.parse(args.find((a) => a.startsWith('{')) ?? '{}') as Partial<Record<keyof DemoSettings, unknown>>;
const settings = { ...DEMO_SETTINGS } as Record<string, unknown>;
for (const [key, value] of Object.entries(patch)) {
  const current = settings[key];
  settings[key] = current && typeof current === 'object' && !Array.isArray(current) && value && typeof value === 'object' ? { ...current, ...value } : value;
}
console.log(JSON.stringify(settings));
const methods = (option('--methods') ?? 'rest-em,re-rest').split(',') as ('rest-em' | 're-rest')[];
const summary = await runDemo(
  { seed: Number(option('--seed') ?? 0), json: false, out: option('--out') ?? 'runs/calibration', fresh: true, settings: settings as unknown as DemoSettings, methods },
  (line) => console.log(line),
);
if (summary) console.log(JSON.stringify({ baseline: summary.baseline, byRecipe: summary.byRecipe, seconds: summary.seconds }));
