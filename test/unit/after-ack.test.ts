import { afterEach, describe, expect, it, vi } from 'vitest';
import { AfterAckQueue } from '../../src/slack/after-ack.ts';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the after-ack queue', () => {
  it('lets a few work at once and gives turns first come, first served', async () => {
    const queue = new AfterAckQueue({ working: 2, waiting: 10 });
    const places = await Promise.all([1, 2, 3, 4].map(() => queue.admit()));
    const started: number[] = [];
    places.forEach((place, i) => void place.turn().then(() => started.push(i + 1)));
    await settle();
    expect(started).toEqual([1, 2]);
    places[1]!.leave();
    await settle();
    await settle();
    expect(started).toEqual([1, 2, 3]);
    places[0]!.leave();
    await settle();
    await settle();
    expect(started).toEqual([1, 2, 3, 4]);
    expect(queue.working).toBe(2);
  });

  it('holds a request before its listener once the queue holds all it may', async () => {
    const queue = new AfterAckQueue({ working: 1, waiting: 1 });
    const first = await queue.admit();
    await queue.admit();
    let admitted = false;
    const third = queue.admit().then((place) => {
      admitted = true;
      return place;
    });
    await settle();
    expect(admitted).toBe(false);
    first.leave();
    await third;
    expect(queue.held).toBe(2);
  });

  it('passes a turn on when a request leaves while waiting for it, or just after being given it', async () => {
    const queue = new AfterAckQueue({ working: 1, waiting: 10 });
    const [a, b, c] = await Promise.all([queue.admit(), queue.admit(), queue.admit()]);
    const aTurn = a.turn();
    void b.turn();
    let cWorks = false;
    void c.turn().then(() => (cWorks = true));
    await aTurn;
    // b is handed the turn (in the next check phase) and leaves before it runs: c works next.
    a.leave();
    b.leave();
    await settle();
    await settle();
    expect(cWorks).toBe(true);
    c.leave();
    expect(queue.working).toBe(0);
    expect(queue.held).toBe(0);
  });

  it('starts no work while a request that reached its listener is still to be acknowledged', async () => {
    const queue = new AfterAckQueue({ working: 4, waiting: 10 });
    const [a, b, c] = await Promise.all([queue.admit(), queue.admit(), queue.admit()]);
    let aWorks = false;
    void a.turn().then(() => (aWorks = true));
    await settle();
    await settle();
    expect(aWorks).toBe(false); // b and c have not been acknowledged yet
    void b.turn();
    await settle();
    await settle();
    expect(aWorks).toBe(false);
    c.leave(); // answered without working after its ack (a usage line, say)
    await settle();
    await settle();
    expect(aWorks).toBe(true);
    expect(queue.working).toBe(2);
  });

  it('lets a request with a deadline of its own work without a turn, neither holding others back nor taking a place', async () => {
    const queue = new AfterAckQueue({ working: 1, waiting: 10 });
    const [a, b, modal] = await Promise.all([queue.admit(), queue.admit(), queue.admit()]);
    let aWorks = false;
    void a.turn().then(() => (aWorks = true));
    void b.turn();
    modal.skipTurn(); // acknowledged, and opening its modal now
    await settle();
    await settle();
    expect(aWorks).toBe(true);
    expect(queue.working).toBe(1); // a's; the modal's work takes no working place
    modal.leave();
    expect(queue.working).toBe(1);
    expect(queue.held).toBe(2);
  });
});

describe('the after-ack queue in a burst', () => {
  // A clock the test moves; setTimeout is faked alone, so setImmediate (the turn's hand-over) runs.
  const clocked = (limits: ConstructorParameters<typeof AfterAckQueue>[0]) => {
    let now = 0;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const queue = new AfterAckQueue(limits, () => now);
    const advance = async (ms: number) => {
      now += ms;
      await vi.advanceTimersByTimeAsync(ms);
      await settle();
    };
    return { queue, advance };
  };
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets a request that came alone work at once', async () => {
    const { queue, advance } = clocked({ working: 4, waiting: 10, quietMs: 5, overdueMs: 2_000 });
    const alone = await queue.admit();
    let works = false;
    void alone.turn().then(() => (works = true));
    await advance(0);
    expect(works).toBe(true);
  });

  it('in a burst, starts work only once requests have paused for the quiet moment', async () => {
    const { queue, advance } = clocked({ working: 4, waiting: 10, quietMs: 5, overdueMs: 2_000 });
    const [first, second] = [await queue.admit(), await queue.admit()];
    let works = false;
    void first.turn().then(() => (works = true));
    void second.turn();
    await advance(3);
    expect(works).toBe(false);
    // Another arrives and is acknowledged: the pause starts again from it.
    const third = await queue.admit();
    void third.turn();
    await advance(3);
    expect(works).toBe(false);
    await advance(2);
    expect(works).toBe(true);
    expect(queue.working).toBe(3);
  });

  it('gives an overdue turn even while requests keep arriving', async () => {
    const { queue, advance } = clocked({ working: 4, waiting: 100, quietMs: 5, overdueMs: 20 });
    const first = await queue.admit();
    // The burst's second request is answered in its ack (a usage line): it leaves without working.
    (await queue.admit()).leave();
    let works = false;
    void first.turn().then(() => (works = true));
    await advance(1);
    for (let t = 1; t < 19; t += 2) {
      const other = await queue.admit();
      void other.turn();
      await advance(2);
    }
    expect(works).toBe(false);
    await queue.admit().then((p) => void p.turn());
    await advance(1);
    expect(works).toBe(true);
    // Only the overdue one: the later turns still wait for the pause.
    expect(queue.working).toBe(1);
  });

  it('gives turns at once while new requests wait for a place, so the queue cannot stall full', async () => {
    const { queue, advance } = clocked({ working: 1, waiting: 1, quietMs: 5 });
    const [a, b] = await Promise.all([queue.admit(), queue.admit()]);
    let aWorks = false;
    void a.turn().then(() => (aWorks = true));
    void b.turn();
    let admitted = false;
    void queue.admit().then(() => (admitted = true));
    await advance(1);
    expect(aWorks).toBe(true);
    a.leave();
    await advance(0);
    expect(admitted).toBe(true);
  });
});
