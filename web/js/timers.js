// The node's timers: SetTimer(timerId, at) / CancelTimer(timerId) actions become setTimeout calls.
// Setting an id again replaces its timer (actions.py). Timers are not stored: on reload
// Node.restore returns SetTimer actions for every phase still pending, and they are armed again here.
const MAX_DELAY = 2 ** 31 - 1;   // setTimeout's limit (~24.8 days); longer timers re-arm in steps

export class Timers {
  constructor(fire) {
    this.fire = fire;             // fire(timerId) -> a TimerFired event for the node
    this.pending = new Map();     // timerId -> {at, handle}
  }

  set(timerId, at) {
    this.cancel(timerId);
    const arm = () => {
      const delay = Math.max(0, at - Date.now());
      const handle = setTimeout(() => {
        if (at > Date.now() + 1) { arm(); return; }   // woke early (long timer step): wait again
        this.pending.delete(timerId);
        this.fire(timerId);
      }, Math.min(delay, MAX_DELAY));
      this.pending.set(timerId, { at, handle });
    };
    arm();
  }

  cancel(timerId) {
    const t = this.pending.get(timerId);
    if (t) clearTimeout(t.handle);
    this.pending.delete(timerId);
  }

  clear() {
    for (const id of [...this.pending.keys()]) this.cancel(id);
  }

  get size() {
    return this.pending.size;
  }

  list() {
    return [...this.pending].map(([timerId, { at }]) => ({ timerId, at })).sort((a, b) => a.at - b.at);
  }
}
