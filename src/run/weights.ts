/**
 * Weights of step-wise rounds (policy gradient, self-play): where a round
 * continues from, the two checkpoint slots its steps save into in turn (a
 * kill during a save never loses the last finished step), the round's final
 * checkpoint, and the frozen KL reference.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainingBackend } from '../spec/training-backend.js';
import type { LoopParts, RoundContext } from './context.js';
import { InvalidConfigError, RunStoreError } from '../errors.js';

/**
 * Loads the weights a step-wise round (RL or self-play) continues from: its
 * own checkpoint when it was killed after writing it (before the phase was
 * marked done), its last finished step's slot, the round-0 weights with a
 * fresh AdamW for round 1 (a new training stage: the warm-up's moments and
 * step count are not carried over), or the previous round's.
 */
export async function startRoundWeights(parts: LoopParts, round: number, context: RoundContext, state: { steps: number }, steps: number, stage: string): Promise<void> {
  const { store } = parts;
  if (state.steps >= steps && store.checkpoint(round)) await context.useWeights(round);
  // The slot the last finished step wrote, found in the run directory as it is now (the run may have been moved or copied since).
  else if (state.steps > 0) await context.loadWeights(stepSlot(parts, round, state.steps - 1), `round-${round}-step-${state.steps}`);
  else if (round === 1) {
    const base = store.checkpoint(0);
    if (!base) throw new RunStoreError(store.path, `round 0 has no checkpoint to start ${stage} from; start the run over with --fresh`);
    await context.loadWeights(base.path, base.policyVersion, { weightsOnly: true });
  } else await context.useWeights(round - 1);
}

/** Saves a finished step's weights into one of the round's two slots, used in turn (a kill during a save never loses the last finished step). */
export async function saveStepWeights(parts: LoopParts, round: number, step: number, context: RoundContext): Promise<void> {
  const checkpoint = stepSlot(parts, round, step);
  await parts.backend.save(checkpoint);
  [context.policy.version, context.policy.weightsPath] = [`round-${round}-step-${step + 1}`, checkpoint];
}

/** The slot step `step` of round `round` saves its weights in. */
function stepSlot(parts: LoopParts, round: number, step: number): string {
  return join(parts.runDir, 'checkpoints', `round-${round}-slot-${step % 2}`);
}

/** Writes the round's checkpoint (a resumed finished round keeps the one it wrote) and removes its step slots, which it supersedes (the phase is marked done next, so they are never read again). */
export async function finishRoundWeights(parts: LoopParts, round: number, context: RoundContext): Promise<void> {
  if (!parts.store.checkpoint(round)) await context.saveWeights(round, `round-${round}`);
  for (const step of [0, 1]) rmSync(stepSlot(parts, round, step), { recursive: true, force: true });
}

/** A round's metrics from its steps': counts and timings summed, everything else averaged. */
export function roundMetrics(steps: readonly Record<string, number>[]): Record<string, number> {
  const summed = (key: string) => key.startsWith('timing_ms/') || ['sampling/completions', 'sampling/prompts', 'sampling/calls', 'sampling/verify_errors', 'train/completions', 'train/forward_completions', 'policy/optimizer_steps', 'refine/failed', 'refine/reflected', 'refine/revisions', 'refine/passed', 'refine/sft_examples'].includes(key);
  const totals = new Map<string, { sum: number; count: number }>();
  for (const metrics of steps) {
    for (const [key, value] of Object.entries(metrics)) {
      const entry = totals.get(key) ?? { sum: 0, count: 0 };
      entry.sum += value;
      entry.count++;
      totals.set(key, entry);
    }
  }
  const out: Record<string, number> = { 'rl/steps': steps.length };
  for (const [key, { sum, count }] of totals) out[key] = summed(key) ? sum : sum / count;
  return out;
}

/** The frozen reference (round-0 weights) in a second backend, when the round's update uses or tracks the KL. */
export async function referenceBackend(parts: LoopParts, kl: { coef: number; track: boolean }, section = 'rl'): Promise<TrainingBackend | undefined> {
  if (kl.coef === 0 && !kl.track) return undefined;
  if (!parts.reference) {
    if (kl.coef > 0) throw new InvalidConfigError(`${section}.kl.coef`, `${section}.kl.coef > 0 needs a reference backend (LoopParts.reference) holding the round-0 weights: pass one, or set ${section}.kl.coef: 0`);
    return undefined;
  }
  const base = parts.store.checkpoint(0);
  if (!base) throw new RunStoreError(parts.store.path, 'no round-0 checkpoint to use as the KL reference; start the run over with --fresh');
  await parts.reference.load(base.path);
  return parts.reference;
}
