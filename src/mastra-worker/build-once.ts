/**
 * The deliberate isolate cache of a Mastra Worker: one value built on first use, shared by every
 * later request of the isolate, never rebuilt while it holds — and forgotten when the build
 * fails, so the next request tries again instead of the isolate serving a cached failure until
 * Cloudflare recycles it.
 *
 * Concurrent first requests share one build (single flight): a burst on a cold isolate builds
 * Mastra once, not once per request.
 */
export class BuildOnce<T, A = void> {
  readonly #build: (arg: A) => Promise<T>;
  #pending: Promise<T> | null = null;
  #value: { ready: T } | null = null;
  #builds = 0;
  #failures = 0;

  /** `build` receives the argument of the `get` call that starts it (a Worker: that request's env). */
  constructor(build: (arg: A) => T | Promise<T>) {
    // A synchronous throw becomes a rejected build like any other failure.
    this.#build = async (arg) => build(arg);
  }

  /** Builds started in this isolate (successful or not): "once per isolate" seen from outside. */
  get builds(): number {
    return this.#builds;
  }

  /** Builds that failed (each one was forgotten; the next `get` retried). */
  get failures(): number {
    return this.#failures;
  }

  /** The built value, without waiting: undefined until a build has succeeded. */
  peek(): T | undefined {
    return this.#value?.ready;
  }

  /** The value, building it if no build succeeded or is under way. */
  get(arg: A): Promise<T> {
    if (this.#value) return Promise.resolve(this.#value.ready);
    if (this.#pending) return this.#pending;
    this.#builds++;
    const pending = this.#build(arg).then(
      (ready) => {
        this.#value = { ready };
        this.#pending = null;
        return ready;
      },
      (error: unknown) => {
        this.#failures++;
        // Only this attempt is dropped: requests already waiting on it get its error.
        if (this.#pending === pending) this.#pending = null;
        throw error;
      },
    );
    this.#pending = pending;
    return pending;
  }
}
