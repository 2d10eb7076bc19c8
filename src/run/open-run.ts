/**
 * Opens (or resumes) a run of a recipe: the run directory, its store, the
 * embedded backend and the parts the recipe names. Rerunning the same command
 * on the same directory resumes; a directory holding a run of a different
 * recipe is refused (only `rounds` may grow, to extend a run). What a run
 * directory may hold, and what `fresh` deletes, is src/store/run-dir.ts's.
 */
import { resolve } from 'node:path';
import { EmbeddedBackend } from '../engine/backend.js';
import { LlamaCppPolicy } from '../policies/llamacpp.js';
import { OpenAIPolicy } from '../policies/openai.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { AutodidactError, InternalError } from '../errors.js';
import type { Recipe } from '../recipe/schema.js';
import type { TrainingBackend } from '../spec/training-backend.js';
import { openRunDirectory } from '../store/run-dir.js';
import type { RunStore } from '../store/run-store.js';
import { recipeControllers } from './plan.js';
import { defaultMonitors } from '../monitors/monitors.js';
import { policyReflector } from '../rollout/reflect.js';
import type { LoopParts, RemoteSampler } from './loop.js';
import { resolveTasks } from '../tasks/sources.js';
import { labelAgreementMonitor, rewardVerifier } from '../verifiers/reward.js';
import { selfPlayFormat } from '../selfplay/formats.js';
import { preferenceLosses } from '../learn/algorithms/preference.js';

/** The run directory already holds a run of another recipe. */
export class RunMismatchError extends AutodidactError {}

export interface OpenRunOptions {
  /** Run directory (store + checkpoints). */
  out: string;
  /** Directory the recipe's relative paths start from. */
  baseDir: string;
  /** Delete the run the directory holds (only what autodidact wrote there) and start over. */
  fresh?: boolean;
  /** Use this backend instead of creating an embedded one (tests). */
  backend?: TrainingBackend;
  /** Use this backend as the frozen KL reference instead of creating a second embedded one (tests); only used when the recipe's `rl.kl` / `selfplay.kl` asks for a reference, or its `preference.loss` compares to one. The caller closes it. */
  reference?: TrainingBackend;
}

export async function openRun(recipe: Recipe, options: OpenRunOptions): Promise<{ parts: LoopParts; close: () => Promise<void> }> {
  const runDir = resolve(options.out);
  // Resolve the task family first: a recipe that cannot load leaves no run directory behind.
  const format = recipe.selfplay ? selfPlayFormat(recipe.selfplay.format, recipe.selfplay.formatOptions) : undefined;
  const { source, verifier, executor, close: closeTasks } = await resolveTasks(recipe.tasks, options.baseDir, format);
  let store: RunStore;
  try {
    store = openRunDirectory(runDir, { fresh: options.fresh });
  } catch (error) {
    await closeTasks?.();
    throw error;
  }
  let closeReward = async () => {};
  // Engines started so far: an error before the run is handed over closes them too.
  const started: { close(): Promise<void> }[] = [];
  try {
    checkSameRecipe(store.getMeta('recipe'), recipe, runDir);
    store.setMeta('recipe', JSON.stringify(recipe));
    const initialCheckpoint = recipe.model.checkpoint ? resolve(options.baseDir, recipe.model.checkpoint) : undefined;
    const backend = options.backend ?? (await EmbeddedBackend.create(initialCheckpoint ? { checkpoint: initialCheckpoint } : { model: { ...recipe.model.config, seed: recipe.model.config?.seed ?? recipe.seed } }));
    if (!options.backend) started.push(backend);
    const policy = { name: 'embedded', sample: backend.sample.bind(backend) };
    // RL and self-play rounds measure (and may penalize) the KL to the round-0 weights, held by a second engine.
    const klSettings = recipe.rl?.kl ?? recipe.selfplay?.kl;
    const selfCorrection = recipe.rl?.selfCorrection; // SCoRe's per-attempt KL terms
    // Preference rounds compare to a frozen reference unless their loss is reference-free (simpo).
    const needsReference =
      (klSettings !== undefined && (klSettings.coef > 0 || klSettings.track)) ||
      (selfCorrection !== undefined && selfCorrection.beta1 + selfCorrection.beta2 > 0) ||
      (recipe.preference !== undefined && preferenceLosses.get(recipe.preference.loss).needsReference);
    const reference = needsReference ? (options.reference ?? (await EmbeddedBackend.create(initialCheckpoint ? { checkpoint: initialCheckpoint } : { model: { ...recipe.model.config, seed: recipe.model.config?.seed ?? recipe.seed } }))) : undefined;
    if (reference && !options.reference) started.push(reference);
    // The recipe's reward verifier (judge or majority vote), if any; the loop builds it with the policy it samples from.
    const reward = await rewardVerifier(recipe, { baseDir: options.baseDir });
    closeReward = reward.close;
    // A remote sampler (the recipe's `sampler:` section): an OpenAI-compatible server that follows training by reloading checkpoints.
    const sampler = recipe.sampler.kind === 'openai' ? remoteSampler(recipe.sampler) : recipe.sampler.kind === 'llamacpp' ? llamaCppSampler(recipe.sampler) : undefined;
    const parts: LoopParts = {
      recipe,
      backend,
      sampler,
      tokenizer: new ByteTokenizer(),
      source,
      verifier,
      makeRewardVerifier: reward.make,
      controllers: recipeControllers(recipe),
      reflector: recipe.reflect.enabled
        ? policyReflector(policy, { template: recipe.reflect.template, sampling: { temperature: recipe.reflect.temperature, topP: recipe.sample.topP, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop } })
        : undefined,
      monitors: reward.make ? [...defaultMonitors, labelAgreementMonitor(verifier)] : defaultMonitors,
      store,
      runDir,
      initialCheckpoint,
      reference,
      executor,
    };
    return {
      parts,
      close: async () => {
        store.close();
        await sampler?.close?.();
        if (!options.backend) await backend.close();
        if (!options.reference) await reference?.close();
        await closeReward();
        await closeTasks?.();
      },
    };
  } catch (error) {
    store.close();
    for (const engine of started) await engine.close();
    await closeReward();
    await closeTasks?.();
    throw error;
  }
}

/** The OpenAI-compatible policy of a recipe's `sampler:` section; with `reload`, it loads each checkpoint the loop writes. */
function remoteSampler(settings: Extract<Recipe['sampler'], { kind: 'openai' }>): RemoteSampler {
  const { kind: _kind, reload, ...config } = settings;
  // A server that reloads our checkpoints reports their version in each reply (autodidact serve): the loop checks it.
  const policy = new OpenAIPolicy({ ...config, fingerprintIsVersion: config.fingerprintIsVersion || reload });
  const usage = () => {
    const { requests, httpAttempts, promptTokens, completionTokens, costUsd } = policy.usage;
    return { requests, http_attempts: httpAttempts, prompt_tokens: promptTokens, completion_tokens: completionTokens, ...(costUsd !== null ? { cost_usd: costUsd } : {}) };
  };
  return { policy, reloadWeights: reload ? (dir, version) => policy.reloadWeights(dir, version) : undefined, close: async () => policy.close(), usage };
}

/** llama.cpp following training: the first checkpoint the loop hands over starts it, later ones are exported to GGUF and swapped in. */
function llamaCppSampler(settings: Extract<Recipe['sampler'], { kind: 'llamacpp' }>): RemoteSampler {
  const { kind: _kind, ...config } = settings;
  let loaded: LlamaCppPolicy | undefined;
  return {
    policy: {
      name: 'llamacpp',
      get version() {
        return loaded?.version ?? 'none';
      },
      sample: (prompts, options) => {
        if (!loaded) throw new InternalError('the llamacpp sampler has no weights yet: the loop loads a checkpoint before sampling');
        return loaded.sample(prompts, options);
      },
    },
    reloadWeights: async (dir, version) => {
      if (loaded) await loaded.reload(dir, version);
      else loaded = await LlamaCppPolicy.create({ ...config, source: dir, version });
    },
    close: async () => loaded?.close(),
  };
}

/** Refuses a run directory that holds another recipe's run; names the fields that differ. */
function checkSameRecipe(saved: string | undefined, recipe: Recipe, runDir: string): void {
  if (saved === undefined) return;
  const before = flatten(JSON.parse(saved) as Record<string, unknown>);
  const now = flatten(recipe as unknown as Record<string, unknown>);
  const changed = [...new Set([...Object.keys(before), ...Object.keys(now)])].filter((key) => key !== 'rounds' && JSON.stringify(before[key]) !== JSON.stringify(now[key]));
  if (changed.length) {
    const shown = changed.slice(0, 3).map((key) => `${key}: ${JSON.stringify(before[key])} → ${JSON.stringify(now[key])}`).join('; ');
    throw new RunMismatchError(`${runDir} holds a run of a different recipe (${shown}${changed.length > 3 ? '; …' : ''}); rerun with --fresh to start over there, or --out <dir> to run elsewhere`);
  }
}

function flatten(value: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [key, inner] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) flatten(inner as Record<string, unknown>, path, out);
    else out[path] = inner;
  }
  return out;
}
