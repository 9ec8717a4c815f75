import { EventOutbox } from './event-outbox.js';

const event = (n: number) => ({
  kind: 'turn.end',
  ts: new Date(n).toISOString(),
  thread_id: null,
  data: { n },
});

describe('EventOutbox (B.88)', () => {
  it('keeps events in order with their own ts until drained', () => {
    const outbox = new EventOutbox(3);
    outbox.push(event(1));
    outbox.push(event(2));
    expect(outbox.drain()).toEqual({ events: [event(1), event(2)], dropped: 0 });
    expect(outbox.size).toBe(0);
  });

  it('drops the oldest past its bound and counts them once', () => {
    const outbox = new EventOutbox(3);
    for (let n = 1; n <= 5; n++) outbox.push(event(n));
    expect(outbox.drain()).toEqual({ events: [event(3), event(4), event(5)], dropped: 2 });
    outbox.push(event(6));
    expect(outbox.drain()).toEqual({ events: [event(6)], dropped: 0 });
  });

  it('holds 1,000 events by default', () => {
    const outbox = new EventOutbox();
    for (let n = 1; n <= 1001; n++) outbox.push(event(n));
    const { events, dropped } = outbox.drain();
    expect(events).toHaveLength(1000);
    expect(events[0]).toEqual(event(2));
    expect(dropped).toBe(1);
  });
});
