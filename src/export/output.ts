/**
 * How every export writes its file: under a temporary name in the target's
 * directory (created when missing), renamed into place, so a failed or killed
 * export leaves no half-written file and no temporary, and keeps an older
 * file at the path intact. A directory at the path is refused by name.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';

/** Writes `data` at `path` atomically. */
export function writeAtomically(path: string, data: string | Uint8Array): void {
  writeThrough(path, (temporary) => writeFileSync(temporary, data));
}

/** Has `write` fill a temporary file next to `path`, then renames it to `path`; removes the temporary when anything fails. */
export function writeThrough<T>(path: string, write: (temporary: string) => T): T {
  if (existsSync(path) && statSync(path).isDirectory()) throw new InvalidArgumentError('--out', `${path} is a directory; --out names the file to write (inside it, say), not the folder`);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new InvalidArgumentError('--out', `cannot create the directory of ${path} (${(error as Error).message})`);
  }
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const result = write(temporary);
    renameSync(temporary, path);
    return result;
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
