/**
 * The reward verifier a recipe's `verifier:` section names (an LLM judge or a
 * majority vote), and a monitor comparing its verdicts with the labels when
 * the tasks have them. The tasks' own verifier keeps scoring held-out
 * evaluation, so `eval/*` is always measured against real labels.
 */
import { resolve } from 'node:path';
import { EmbeddedBackend } from '../engine/backend.js';
import type { Recipe } from '../recipe/schema.js';
import type { Monitor, RoundRecord } from '../spec/monitor.js';
import type { Verifier } from '../spec/verifier.js';
import { judgeVerifier, type JudgePolicy } from './judge.js';
import { scoreGroups } from './groups.js';
import { answerEnds } from './match.js';
import { majorityVoteVerifier } from './vote.js';

/**
 * The recipe's reward verifier, as a function of the policy the loop samples
 * from (`self`: a judge with `policy: self` samples it, so it reads the
 * current weights at every call, on the engine or a remote sampler); none for
 * `kind: tasks` (the loop then rewards with the tasks' verifier). A judge
 * with `policy: { checkpoint }` is a frozen embedded model loaded here.
 */
export async function rewardVerifier(recipe: Recipe, options: { baseDir: string }): Promise<{ make?: (self: JudgePolicy) => Verifier; close: () => Promise<void> }> {
  const v = recipe.verifier;
  if (v.kind === 'tasks') return { close: async () => {} };
  if (v.kind === 'majority-vote') {
    const verifier = majorityVoteVerifier({ minAgreement: v.minAgreement, match: v.match, answerMarker: v.answerMarker, answerEnd: answerEnds(recipe.sample.stop, v.answerEnd) });
    return { make: () => verifier, close: async () => {} };
  }
  let frozen: { backend: EmbeddedBackend; policy: JudgePolicy } | undefined;
  if (v.policy !== 'self') {
    const backend = await EmbeddedBackend.create({ checkpoint: resolve(options.baseDir, v.policy.checkpoint) });
    frozen = { backend, policy: { name: `embedded(${v.policy.checkpoint})`, sample: backend.sample.bind(backend) } };
  }
  const make = (self: JudgePolicy) =>
    judgeVerifier({
      policy: frozen?.policy ?? self,
      rubric: v.rubric,
      scale: v.scale,
      samples: v.samples,
      temperature: v.temperature,
      topP: recipe.sample.topP,
      maxTokens: v.maxTokens,
      stop: v.stop,
      seed: recipe.seed,
      threshold: v.threshold,
      pick: v.pick,
      reference: v.reference,
    });
  return { make, close: async () => frozen?.backend.close() };
}

/**
 * How the reward verifier's verdicts compare with the labels, over a round's
 * own samples that the label verifier scored (the labeled ones: a task with
 * an answer, a code task with tests): `reward/label_agreement` (same
 * pass/fail, over the samples the reward scored too), `reward/label_precision`
 * (of the samples the reward passed, the share right by the labels),
 * `reward/label_recall` (of the right ones, the share it passed),
 * `reward/label_accuracy` (all the labeled samples' true accuracy), and
 * `reward/label_coverage` (share of labeled samples the reward scored at all:
 * a vote without a majority abstains). The label verifier runs here, in the
 * monitor phase, and may be asynchronous (the code verifier's sandbox); its
 * verdicts are not stored. A round without labeled samples reports nothing.
 */
export function labelAgreementMonitor(labels: Verifier): Monitor {
  return {
    name: 'reward-vs-labels',
    async observe(record: RoundRecord): Promise<Record<string, number>> {
      const groups = record.groups.filter((group) => group.length > 0);
      const truths = await scoreGroups(labels, groups.map((group) => ({ task: group[0].task, completions: group.map((a) => a.completion) })));
      const labeled = groups.flatMap((group, i) =>
        group.flatMap((attempt, j) => {
          const truth = truths[i][j];
          return truth.status === 'scored' ? [{ attempt, label: truth.pass }] : [];
        }),
      );
      if (labeled.length === 0) return {};
      const pairs = labeled.flatMap(({ attempt, label }) => (attempt.verification.status === 'scored' ? [{ reward: attempt.verification.pass, label }] : []));
      const share = (count: number, of: number) => (of ? count / of : 0);
      const rewarded = pairs.filter((p) => p.reward);
      const right = pairs.filter((p) => p.label);
      return {
        'reward/label_coverage': share(pairs.length, labeled.length),
        'reward/label_agreement': share(pairs.filter((p) => p.reward === p.label).length, pairs.length),
        'reward/label_precision': share(rewarded.filter((p) => p.label).length, rewarded.length),
        'reward/label_recall': share(right.filter((p) => p.reward).length, right.length),
        'reward/label_accuracy': share(labeled.filter((l) => l.label).length, labeled.length),
      };
    },
  };
}
