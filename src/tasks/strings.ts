import type { Task } from '../spec/task.js';
import type { GenerateOptions, TaskFamily } from '../spec/task-source.js';
import { matchVerifier } from '../verifiers/match.js';
import { checkGenerateOptions, familyRng, randomInt } from './random.js';

/**
 * String manipulation: `reverse` or `sort` a word of lowercase letters.
 * Difficulty = word length (1–32). Prompt `reverse:hello=`, solution `olleh;`.
 */
export function stringFamily(options: { operation?: 'reverse' | 'sort'; revealAnswer?: boolean } = {}): TaskFamily {
  const operation = options.operation ?? 'reverse';
  const difficulty = { min: 1, max: 32 };
  return {
    name: `string-${operation}`,
    difficulty,
    verifier: { ...matchVerifier({ answerEnd: [';', '\n'], revealAnswer: options.revealAnswer ?? false }), name: `string-${operation}` },
    generate(generate: GenerateOptions): Task[] {
      checkGenerateOptions(`string-${operation}`, difficulty, generate);
      const rng = familyRng(`string-${operation}`, generate);
      return Array.from({ length: generate.count }, (_, i) => {
        const word = Array.from({ length: generate.difficulty }, () => String.fromCharCode(97 + randomInt(rng, 0, 25))).join('');
        const answer = operation === 'reverse' ? [...word].reverse().join('') : [...word].sort().join('');
        return {
          id: `${generate.split ?? 'task'}-string-${operation}-d${generate.difficulty}-${generate.seed}-${i}`,
          family: `string-${operation}`,
          prompt: `${operation}:${word}=`,
          answer,
          solution: `${answer};`,
          difficulty: generate.difficulty,
          meta: { word },
        };
      });
    },
  };
}
