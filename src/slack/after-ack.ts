// Slack waits 3 s for an ack and nothing more; the reply to a command or a click (by response_url,
// valid 30 minutes, or an ephemeral message) can wait its turn. So a request's ack never queues
// behind the work of earlier requests: after its ack, a listener waits here for a turn, and only a
// few listeners work at once, first come first served. Acks come first, strictly: no work starts
// while a request that has reached its listener is still to be acknowledged, so in a burst the
// acks go out at the pace of Bolt's own path and the replies follow once the burst has passed. Requests held (acknowledged or not) are
// bounded too: past the bound a new request waits before its ack, so a flood costs latency (Slack
// allows 3 s) rather than a backlog that grows in memory without bound.

export interface AfterAckLimits {
  /** Listeners working after their ack at once. */
  working: number;
  /** Acknowledged requests waiting for their turn, besides those working. */
  waiting: number;
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
  readonly #turns: Array<() => void> = [];

  constructor(limits: AfterAckLimits) {
    this.#limits = limits;
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
    if (this.#held < this.#limits.working + this.#limits.waiting) this.#held += 1;
    else await new Promise<void>((resolve) => this.#admissions.push(resolve));
    this.#unacked += 1;
    let state: 'before' | 'outside' | 'waiting' | 'granted' | 'working' | 'left' = 'before';
    let inLine: (() => void) | undefined;
    let turn: Promise<void> | undefined;
    return {
      turn: () => {
        if (turn) return turn;
        if (state !== 'before') return Promise.resolve();
        state = 'waiting';
        this.#unacked -= 1;
        turn = new Promise<void>((resolve) => {
          inLine = () => {
            state = 'granted';
            // Started in the event loop's check phase, after the I/O that is ready: requests that
            // have arrived meanwhile reach their listeners, and are acknowledged, first.
            setImmediate(() => {
              if (state !== 'granted') return; // it left in between, and gave its slot back then
              state = 'working';
              resolve();
            });
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
        const nextInLine = this.#admissions.shift();
        if (nextInLine) nextInLine();
        else this.#held -= 1;
        this.#pump();
      },
    };
  }

  /** Gives turns while a listener may work and no admitted request waits for its ack. */
  #pump(): void {
    while (this.#working < this.#limits.working && this.#unacked === 0 && this.#turns.length > 0) {
      this.#working += 1;
      this.#turns.shift()!();
    }
  }
}
