/**
 * A name-keyed registry of pure functions (verl's core_algos style): advantage
 * estimators, policy losses and KL penalties are looked up by the names
 * recipes use. An unknown name throws and lists the valid ones; registering a
 * second function under a taken name throws.
 */
import { InvalidConfigError, InvalidArgumentError } from './errors.js';

export class Registry<T> {
  private readonly entries = new Map<string, T>();

  /** `kind` names what the registry holds in error messages ("advantage estimator"); `field` is the config field that selects from it. */
  constructor(
    readonly kind: string,
    readonly field: string,
  ) {}

  register(name: string, entry: T): void {
    if (this.entries.has(name)) throw new InvalidArgumentError('name', `${this.kind} "${name}" is already registered; register yours under another name`);
    this.entries.set(name, entry);
  }

  /** The entry named `name`; an unknown name is an InvalidConfigError on `field` (default the registry's) listing the valid names. */
  get(name: string, field = this.field): T {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new InvalidConfigError(field, `unknown ${this.kind} "${name}"; valid: ${this.names().join(', ')}`);
    return entry;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }
}
