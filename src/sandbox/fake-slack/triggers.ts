import { randomBytes } from 'node:crypto';
import type { Clock } from './types.ts';

// Modal triggers (reference/slack.md §5, views.open): a trigger_id is single-use and expires 3 s
// after Slack sends it. Triggers minted here carry their time and user; a trigger this fake never
// minted (e.g. built by a test payload) is accepted once, since its age is unknown.

export const TRIGGER_TTL_MS = 3000;

export type TriggerCheck = { ok: true; user: string | undefined } | { ok: false; error: string };

export class TriggerBook {
  readonly #clock: Clock;
  readonly #minted = new Map<string, { at: number; user: string | undefined }>();
  readonly #used = new Set<string>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  mint(user?: string): string {
    const at = this.#clock();
    const id = `${Math.floor(at / 1000)}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`;
    this.#minted.set(id, { at, user });
    return id;
  }

  /** Spends a trigger for views.open. */
  use(id: string): TriggerCheck {
    if (this.#used.has(id)) return { ok: false, error: 'exchanged_trigger_id' };
    const minted = this.#minted.get(id);
    if (minted && this.#clock() - minted.at > TRIGGER_TTL_MS)
      return { ok: false, error: 'expired_trigger_id' };
    this.#used.add(id);
    return { ok: true, user: minted?.user };
  }
}
