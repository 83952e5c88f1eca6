// Slack waits 3 s for an ack and nothing more; the reply to a command or a click (by response_url,
// valid 30 minutes, or an ephemeral message) can wait its turn. So a request's ack never queues
// behind the work of earlier requests: after its ack, a listener waits here for a turn, and only a
// few listeners work at once, first come first served. Acks come first, strictly: no work starts
// while a request that has reached its listener is still to be acknowledged. Nor, in a burst, while
// requests keep arriving: work starts once none has come for a moment (`quietMs`), so the acks go out
// at the pace of Bolt's own path and the replies follow once the burst has passed; a turn that has
// waited `overdueMs` is given anyway, so a flood that never pauses still gets its replies. A request
// that comes alone works at once: an Approve click's effect waits for nothing. Requests held
// (acknowledged or not) are bounded too: past the bound a new request waits before its ack, so a
// flood costs latency (Slack allows 3 s) rather than a backlog that grows in memory without bound.

export interface AfterAckLimits {
  /** Listeners working after their ack at once. */
  working: number;
  /** Acknowledged requests waiting for their turn, besides those working. */
  waiting: number;
  /**
   * In a burst (two requests arriving within this long of each other), work starts only once no
   * request has arrived for this long (ms); 0 or unset: at once.
   */
  quietMs?: number;
  /** A turn waited this long (ms) is given even while requests keep arriving; unset: never forced. */
  overdueMs?: number;
}

/** One request's place: taken before its listener runs, left when its listener has returned. */
export interface Place {
  /** Resolves when this request's work may start; the first call waits, later ones do not. */
  turn(): Promise<void>;
  /**
   * Acknowledged, and working at once without a turn: for a listener with a deadline of its own
   * (a modal opens only within 3 s of its trigger). Changes nothing once a turn was asked for.
   */
  skipTurn(): void;
  /** Gives the place (and the turn, if taken) to the next in line. */
  leave(): void;
}

export class AfterAckQueue {
  readonly #limits: AfterAckLimits;
  #held = 0;
  #working = 0;
  /** Requests admitted whose listener has not yet asked for a turn: their ack is still to come. */
  #unacked = 0;
  readonly #admissions: Array<() => void> = [];
  /** Waiting for a turn, oldest first, each with when it started waiting. */
  readonly #turns: Array<{ give: () => void; since: number }> = [];
  readonly #now: () => number;
  #lastArrival = Number.NEGATIVE_INFINITY;
  /** The arrival before the last: two within `quietMs` of each other make a burst. */
  #previousArrival = Number.NEGATIVE_INFINITY;
  /** Pumps again once the quiet moment or the oldest turn's overdue time comes. */
  #wake: NodeJS.Timeout | undefined;

  constructor(limits: AfterAckLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Requests held now: working, waiting for a turn, or not yet acknowledged. */
  get held(): number {
    return this.#held;
  }

  /** Listeners working after their ack now. */
  get working(): number {
    return this.#working;
  }

  /** Waits, before the request's listener (and its ack) runs, while the queue holds all it may. */
  async admit(): Promise<Place> {
    this.#previousArrival = this.#lastArrival;
    this.#lastArrival = this.#now();
    if (this.#held < this.#limits.working + this.#limits.waiting) this.#held += 1;
    else
      await new Promise<void>((resolve) => {
        this.#admissions.push(resolve);
        this.#pump(); // a full queue gives its turns without waiting for a pause
      });
    this.#unacked += 1;
    let state: 'before' | 'outside' | 'waiting' | 'granted' | 'working' | 'left' = 'before';
    let inLine: { give: () => void; since: number } | undefined;
    let turn: Promise<void> | undefined;
    return {
      turn: () => {
        if (turn) return turn;
        if (state !== 'before') return Promise.resolve();
        state = 'waiting';
        this.#unacked -= 1;
        turn = new Promise<void>((resolve) => {
          inLine = {
            since: this.#now(),
            give: () => {
              state = 'granted';
              // Started in the event loop's check phase, after the I/O that is ready: requests that
              // have arrived meanwhile reach their listeners, and are acknowledged, first.
              setImmediate(() => {
                if (state !== 'granted') return; // it left in between, and gave its slot back then
                state = 'working';
                resolve();
              });
            },
          };
          this.#turns.push(inLine);
        });
        this.#pump();
        return turn;
      },
      skipTurn: () => {
        if (state !== 'before') return;
        state = 'outside';
        this.#unacked -= 1;
        this.#pump();
      },
      leave: () => {
        if (state === 'left') return;
        const before = state;
        state = 'left';
        if (before === 'before') this.#unacked -= 1;
        else if (before === 'working' || before === 'granted') this.#working -= 1;
        else if (before === 'waiting' && inLine) this.#turns.splice(this.#turns.indexOf(inLine), 1);
        const nextAdmitted = this.#admissions.shift();
        if (nextAdmitted) nextAdmitted();
        else this.#held -= 1;
        this.#pump();
      },
    };
  }

  /**
   * Gives turns while a listener may work and no admitted request waits for its ack, once requests
   * have paused for `quietMs`, or at once for a turn overdue or when new requests wait for a place
   * (only leaving makes room for them).
   */
  #pump(): void {
    while (this.#working < this.#limits.working && this.#unacked === 0 && this.#turns.length > 0) {
      const wait = this.#admissions.length > 0 ? 0 : this.#untilFree(this.#turns[0]!.since);
      if (wait > 0) {
        this.#wakeIn(wait);
        return;
      }
      this.#working += 1;
      this.#turns.shift()!.give();
    }
  }

  /** How long the oldest turn, waiting since `since`, must still wait (ms); 0: it may start. */
  #untilFree(since: number): number {
    const now = this.#now();
    const quietMs = this.#limits.quietMs ?? 0;
    // A request that came alone (none just before it) is no burst: its work starts at once.
    if (this.#lastArrival - this.#previousArrival >= quietMs) return 0;
    const quiet = this.#lastArrival + quietMs - now;
    if (quiet <= 0) return 0;
    const overdue = this.#limits.overdueMs === undefined ? quiet : since + this.#limits.overdueMs - now;
    return Math.max(0, Math.min(quiet, overdue));
  }

  #wakeIn(ms: number): void {
    if (this.#wake) return;
    // Pumped in the check phase after the timer, once the I/O that is ready has been read: requests
    // that arrived while this process was busy count as arrivals before any work starts.
    this.#wake = setTimeout(() => {
      setImmediate(() => {
        this.#wake = undefined;
        this.#pump();
      });
    }, Math.ceil(ms));
  }
}
