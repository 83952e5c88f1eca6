import { EventEmitter } from 'node:events';

// The console's faults panel: incidents to rehearse, injected into the sandbox's fakes. Each fault is
// visible while armed; the fakes ask this object whether to misbehave on each request.

export const FAULT_NAMES = [
  'route53-throttling',
  'health-check',
  'error-rate',
  'slow-drain',
  'http-502',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export interface FaultView {
  name: FaultName;
  label: string;
  /** What the fault does, in the words the panel shows. */
  description: string;
  armed: boolean;
  /** Counted faults (Route 53 throttling): calls still to fail. */
  remaining?: number;
}

/** How many Route 53 calls a throttling fault fails when no count is given: enough to exhaust one attempt's retries. */
export const DEFAULT_THROTTLE_COUNT = 8;

const describe: Record<FaultName, { label: string; description: string }> = {
  'route53-throttling': {
    label: 'Route 53 throttling',
    description:
      'The next Route 53 calls answer 400 Throttling "Rate exceeded", as when other tools share the account\'s 5 requests a second.',
  },
  'health-check': {
    label: 'Failing health check',
    description: "The new platform's /healthz answers 500 while armed, so check steps fail.",
  },
  'error-rate': {
    label: 'Error rate up',
    description:
      "One request in four to the new platform answers 503 while armed: a watch's checks fail now and then, and Prometheus reports the 5xx rate climbing.",
  },
  'slow-drain': {
    label: 'Slow drain',
    description: 'The old Sidekiq workers take ten times longer per job while armed, so drains crawl.',
  },
  'http-502': {
    label: 'HTTP 502 from maintenance endpoint',
    description: 'The maintenance endpoint answers 502 Bad Gateway to every request while armed.',
  },
};

interface FaultEvents {
  change: [FaultView[]];
}

export class Faults extends EventEmitter<FaultEvents> {
  #throttleRemaining = 0;
  #healthFailing = false;
  #errorRateUp = false;
  #slowDrain = false;
  #maintenance502 = false;

  constructor() {
    super();
    this.setMaxListeners(1000);
  }

  /** Arms a fault. `count` applies to Route 53 throttling only (default DEFAULT_THROTTLE_COUNT). */
  arm(name: FaultName, count?: number): void {
    switch (name) {
      case 'route53-throttling':
        this.#throttleRemaining = Math.max(1, Math.floor(count ?? DEFAULT_THROTTLE_COUNT));
        break;
      case 'health-check':
        this.#healthFailing = true;
        break;
      case 'error-rate':
        this.#errorRateUp = true;
        break;
      case 'slow-drain':
        this.#slowDrain = true;
        break;
      case 'http-502':
        this.#maintenance502 = true;
        break;
    }
    this.#changed();
  }

  disarm(name: FaultName): void {
    switch (name) {
      case 'route53-throttling':
        this.#throttleRemaining = 0;
        break;
      case 'health-check':
        this.#healthFailing = false;
        break;
      case 'error-rate':
        this.#errorRateUp = false;
        break;
      case 'slow-drain':
        this.#slowDrain = false;
        break;
      case 'http-502':
        this.#maintenance502 = false;
        break;
    }
    this.#changed();
  }

  disarmAll(): void {
    for (const name of FAULT_NAMES) this.disarm(name);
  }

  isArmed(name: FaultName): boolean {
    return this.list().some((f) => f.name === name && f.armed);
  }

  list(): FaultView[] {
    const armed: Record<FaultName, boolean> = {
      'route53-throttling': this.#throttleRemaining > 0,
      'health-check': this.#healthFailing,
      'error-rate': this.#errorRateUp,
      'slow-drain': this.#slowDrain,
      'http-502': this.#maintenance502,
    };
    return FAULT_NAMES.map((name) => ({
      name,
      ...describe[name],
      armed: armed[name],
      ...(name === 'route53-throttling' ? { remaining: this.#throttleRemaining } : {}),
    }));
  }

  /** Called once per Route 53 request: true when this one is to be throttled (and counts it). */
  takeRoute53Throttle(): boolean {
    if (this.#throttleRemaining <= 0) return false;
    this.#throttleRemaining -= 1;
    this.#changed();
    return true;
  }

  get healthFailing(): boolean {
    return this.#healthFailing;
  }

  get errorRateUp(): boolean {
    return this.#errorRateUp;
  }

  get slowDrain(): boolean {
    return this.#slowDrain;
  }

  get maintenance502(): boolean {
    return this.#maintenance502;
  }

  #changed(): void {
    this.emit('change', this.list());
  }
}

export function isFaultName(value: unknown): value is FaultName {
  return typeof value === 'string' && (FAULT_NAMES as readonly string[]).includes(value);
}
