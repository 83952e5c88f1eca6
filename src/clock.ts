/** Time comes in from outside so tests of timeouts and expiries take milliseconds. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
