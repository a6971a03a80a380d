/** A set that keeps at most `max` members, forgetting the least recently added first. */
export class RecentSet<T> {
  readonly #m = new Set<T>();
  constructor(readonly max: number) {}

  add(x: T): void {
    // Re-added: now the most recent.
    this.#m.delete(x);
    this.#m.add(x);
    if (this.#m.size > this.max) this.#m.delete(this.#m.values().next().value as T);
  }

  delete(x: T): void {
    this.#m.delete(x);
  }

  has(x: T): boolean {
    return this.#m.has(x);
  }

  get size(): number {
    return this.#m.size;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#m.values();
  }
}
