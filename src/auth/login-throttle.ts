export interface LoginThrottleOptions {
  /** Failed logins per user name within the window before that name is locked. */
  maxFailuresPerUser: number;
  /** Failed logins per client address within the window before that address is locked. */
  maxFailuresPerAddress: number;
  windowMs: number;
  now?: () => number;
}

/** Bounded so that a flood of distinct names cannot grow memory without limit. */
const MAX_KEYS = 50_000;

/**
 * Counts failed logins per user and per address in a sliding window. While either has reached
 * its limit, further attempts are refused (even correct ones) until the oldest counted failure
 * leaves the window. In-process: each node of a scale-out deployment counts on its own.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(private readonly options: LoginThrottleOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Seconds until an attempt for `user` from `ip` is allowed again; undefined when allowed now. */
  retryAfter(user: string, ip: string): number | undefined {
    const waits = [this.wait(`u:${user}`, this.options.maxFailuresPerUser), this.wait(`a:${ip}`, this.options.maxFailuresPerAddress)].filter(
      (w): w is number => w !== undefined,
    );
    return waits.length === 0 ? undefined : Math.max(...waits);
  }

  recordFailure(user: string, ip: string): void {
    this.push(`u:${user}`, this.options.maxFailuresPerUser);
    this.push(`a:${ip}`, this.options.maxFailuresPerAddress);
  }

  /** A successful login clears the user's count (not the address's). */
  recordSuccess(user: string): void {
    this.failures.delete(`u:${user}`);
  }

  private recent(key: string): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const from = this.now() - this.options.windowMs;
    const kept = list.filter((t) => t > from);
    if (kept.length === 0) this.failures.delete(key);
    else if (kept.length !== list.length) this.failures.set(key, kept);
    return kept;
  }

  private wait(key: string, max: number): number | undefined {
    const list = this.recent(key);
    if (list.length < max) return undefined;
    const unlockAt = list[list.length - max]! + this.options.windowMs;
    return Math.max(1, Math.ceil((unlockAt - this.now()) / 1000));
  }

  private push(key: string, max: number): void {
    const list = this.recent(key);
    list.push(this.now());
    if (list.length > max) list.splice(0, list.length - max);
    if (!this.failures.has(key) && this.failures.size >= MAX_KEYS) this.failures.clear();
    this.failures.set(key, list);
  }
}
