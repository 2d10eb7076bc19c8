#!/usr/bin/env node
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { probeIsolation } from '../sandbox/isolation.js';
import { AutodidactError } from '../errors.js';
import { getKernels, defaultThreads } from '../engine/kernels.js';
import { runEngineDemo } from './train-demo.js';
import { runDemo } from './demo.js';
import { runCommand } from './run.js';
import { compareCommand } from './compare.js';
import { parsePort, serveCommand, type ServeCommandOptions } from './serve.js';
import { exportCommand, formatsHelp, parseRound } from './export.js';

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new CommanderArgumentError('expected a positive integer');
  return parsed;
}

const program = new Command();
program
  .name('autodidact')
  .description('Language models and agents that improve themselves.')
  .version('0.1.0')
  .option('--debug', 'print the stack of any error (also AUTODIDACT_DEBUG=1)');

program
  .command('demo')
  .description('easy-to-hard self-improvement: SFT on short sums, then the model teaches itself longer ones (rest-em vs re-rest)')
  .option('--seed <n>', 'seed of data, initialization and sampling', (v) => Number.parseInt(v, 10), 0)
  .option('--rounds <n>', 'self-training rounds per method', positiveInt)
  .option('--out <dir>', 'where the runs go; an interrupted demo resumes from here', 'runs/demo')
  .option('--fresh', 'start over even if an interrupted demo is there')
  .option('--json', 'print a machine-readable summary as the last line')
  .action(async (options: { seed: number; rounds?: number; out: string; fresh?: boolean; json?: boolean }) => {
    const json = options.json ?? false;
    const summary = await runDemo({ ...options, json }, (line) => (json ? process.stderr : process.stdout).write(`${line}\n`));
    if (summary === null) {
      process.stderr.write('stopped; rerun the same command to resume\n');
      process.exitCode = 130;
    }
    else if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  });

program
  .command('train-demo')
  .description('train the embedded transformer from scratch on additions and test it on held-out sums')
  .option('--steps <n>', 'training steps', positiveInt, 800)
  .option('--batch-size <n>', 'sequences per step', positiveInt, 64)
  .option('--seed <n>', 'seed of data and initialization', (v) => Number.parseInt(v, 10), 0)
  .option('--save <dir>', 'save the trained checkpoint to this directory')
  .option('--json', 'print a machine-readable summary as the last line')
  .action(async (options: { steps: number; batchSize: number; seed: number; save?: string; json?: boolean }) => {
    const json = options.json ?? false;
    const summary = await runEngineDemo({ ...options, json }, (line) => (json ? process.stderr : process.stdout).write(`${line}\n`));
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  });

const collect = (value: string, previous: string[]) => [...previous, value];

program
  .command('run')
  .description('run (or resume) a self-improvement recipe')
  .argument('<recipe>', 'recipe YAML file (see recipes/)')
  .option('--set <path=value>', 'override a recipe field, e.g. --set train.steps=200 (repeatable)', collect, [])
  .option('--out <dir>', 'run directory (default runs/<name>-seed<seed>); rerunning resumes it')
  .option('--fresh', 'delete the run in --out first (only what autodidact wrote there) and start over')
  .option('--dry-run', 'validate the recipe and print the resolved config without running')
  .option('--json', 'print a machine-readable summary as the last line')
  .action(async (recipe: string, options: { set: string[]; out?: string; fresh?: boolean; dryRun?: boolean; json?: boolean }) => {
    await runCommand(recipe, options);
  });

program
  .command('compare')
  .description('run recipes with the same seeds and budget and print mean ± std of final metrics')
  .argument('<recipes...>', 'recipe YAML files')
  .option('--seeds <n>', 'seeds per recipe (0 … n−1)', positiveInt, 3)
  .option('--metrics <list>', 'comma-separated metric keys (default: eval/accuracy, the hardest eval/accuracy/d*, accept/count, seconds)')
  .option('--set <path=value>', 'override a field in every recipe (repeatable)', collect, [])
  .option('--out <dir>', 'parent directory of the runs; rerunning resumes them', 'runs/compare')
  .option('--fresh', 'delete the runs first (only what autodidact wrote) and start over')
  .option('--json', 'print {"recipes":{name:{metric:{mean,std}}}} as the last line')
  .action(async (recipes: string[], options: { seeds: number; metrics?: string; set: string[]; out: string; fresh?: boolean; json?: boolean }) => {
    await compareCommand(recipes, options);
  });

program
  .command('export')
  .description("write a round's accepted set for TRL, verl or OpenAI fine-tuning, or a checkpoint as GGUF")
  .argument('<dir>', 'run directory (dataset formats; gguf: its checkpoint) or checkpoint directory (gguf)')
  .requiredOption('--format <format>', 'trl-sft | trl-dpo | openai-chat | verl-parquet | gguf (see below)')
  .option('--round <n>', 'round to export (default: the last round with an accepted set; gguf: the last checkpoint)', parseRound)
  .option('--out <path>', 'output file (default <run>/exports/round-<n>.<format>.jsonl or .parquet; required for gguf)')
  .option('--json', 'print a machine-readable summary as the last line')
  .addHelpText('after', formatsHelp())
  .action(async (dir: string, options: { format: string; round?: number; out?: string; json?: boolean }) => {
    await exportCommand(dir, options);
  });

program
  .command('serve')
  .description('serve a checkpoint over the OpenAI API (/v1/models, /v1/completions, /v1/chat/completions with logprobs, n, seed, streaming; POST /update_weights_from_disk swaps weights)')
  .argument('<checkpoint-dir>', 'checkpoint directory (e.g. runs/<run>/checkpoints/round-3)')
  .option('--port <n>', 'TCP port (0 picks a free one)', parsePort, 8000)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--model-name <name>', 'model id clients ask for (default: the directory name)')
  .option('--weights-version <label>', 'version label of the weights, sent back as system_fingerprint (default: the directory name)')
  .option('--max-batch <n>', 'sequences (prompts × n) decoded together at most', positiveInt, 256)
  .option('--quiet', 'no log line per batch')
  .option('--json', 'print {"url","model","version"} once listening')
  .action(async (checkpoint: string, options: ServeCommandOptions) => {
    await serveCommand(checkpoint, options);
  });

program
  .command('info')
  .description('show which kernels, BLAS, GEMM and threads the engine uses, and which isolation the sandbox gets here')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) => {
    const kernels = getKernels();
    const sandbox = probeIsolation();
    const info = { kernels: kernels.name, blas: kernels.blas, gemm: kernels.gemmPath, threads: kernels.threads(), defaultThreads: defaultThreads(), sandbox };
    if (options.json) console.log(JSON.stringify(info));
    else console.log(`kernels: ${info.kernels}\nblas: ${info.blas}\ngemm: ${info.gemm}\nthreads: ${info.threads}\nsandbox: child processes; rlimits ${sandbox.rlimits.join(', ') || 'none'}; network ${sandbox.network === 'namespace' ? 'namespace (none reachable)' : 'no namespace (the isolate has no network API)'}; CPU and memory watch ${sandbox.monitor === 'proc' ? '/proc' : 'none (child clock and wall clock only)'}`);
  });

/** Whether to print stacks: the global `--debug` flag (anywhere on the command line) or AUTODIDACT_DEBUG=1. */
function debugRequested(): boolean {
  return program.opts<{ debug?: boolean }>().debug === true || process.argv.includes('--debug') || process.env.AUTODIDACT_DEBUG === '1';
}

/**
 * A user error (an AutodidactError: bad config, recipe, run directory, server
 * reply, …) prints its message, which names the input and the fix, and exits 2.
 * Anything else is a bug in autodidact: its message, a hint to rerun with
 * --debug, exit 1. With --debug both print their stack.
 */
program.parseAsync().catch((error: unknown) => {
  const debug = debugRequested();
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof AutodidactError) {
    if (debug) console.error(error); // the stack and, through util.inspect, any cause's
    else console.error(`autodidact: ${message}`);
    process.exit(2);
  }
  if (debug) console.error(error);
  else console.error(`autodidact: ${message}\nthis is a bug in autodidact; rerun with --debug for the stack`);
  process.exit(1);
});
