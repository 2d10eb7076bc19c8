/**
 * Scoring groups of completions through any Verifier: its `verifyGroups` when
 * it has one (majority vote needs the group; an LLM judge batches one model
 * call over all of them), its `verify` per completion otherwise.
 */
import type { Verification, VerificationGroup, Verifier } from '../spec/verifier.js';
import { UserCodeError } from '../errors.js';

/** result[i][j] is the verdict on groups[i].completions[j]; a verifier that answers with another shape is an error. */
export async function scoreGroups(verifier: Verifier, groups: readonly VerificationGroup[]): Promise<Verification[][]> {
  if (groups.length === 0) return [];
  if (!verifier.verifyGroups) return Promise.all(groups.map(({ task, completions }) => Promise.all(completions.map((completion) => verifier.verify(task, completion)))));
  const verdicts = await verifier.verifyGroups(groups);
  const wrong = verdicts.length !== groups.length ? -1 : groups.findIndex((group, i) => verdicts[i]?.length !== group.completions.length);
  if (verdicts.length !== groups.length || wrong >= 0) {
    const what = wrong < 0 ? `${verdicts.length} groups for ${groups.length}` : `${verdicts[wrong]?.length ?? 0} verdicts for the ${groups[wrong].completions.length} completions of group ${wrong}`;
    throw new UserCodeError(`verifier ${verifier.name} ${verifier.version}`, 'verifyGroups', `returned ${what}; it must return one verdict per completion, in order`);
  }
  return verdicts;
}
