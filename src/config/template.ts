/** Checking `{name}` placeholders of prompt templates when a config loads, not when a run first fills them. */
import { nearestKey } from './validate.js';

/**
 * The first placeholder of `template` not among `known`, as a message naming
 * it, the nearest known one (a did-you-mean) and the known ones; null when
 * every placeholder is known. Placeholders are `{word}`, as fillTemplate and
 * judgePrompt fill them.
 */
export function unknownPlaceholder(template: string, known: readonly string[]): string | null {
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    const name = match[1];
    if (known.includes(name)) continue;
    const nearest = nearestKey(name, [...known]);
    return `unknown placeholder {${name}}${nearest ? ` — did you mean {${nearest}}?` : ''} (known: ${known.map((p) => `{${p}}`).join(', ')})`;
  }
  return null;
}
