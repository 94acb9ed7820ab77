// Per-channel health, and the rule that brings a channel back when its relay returns.
//
// state:  "joining"  relay not reached yet, no peers
//         "live"     relay open, or peer links still open (WebRTC outlives its signalling relay)
//         "down"     relay gone and no peers: nothing arrives on this channel
//         "closed"   close() was called
// relay:  "connecting" | "open" | "down"  (any of the channel's relay sockets open = "open")
//
// Rejoin: Trystero retries a lost relay by itself for about a minute (mqtt.js for ever), so a short
// outage heals in place. When the relay has been away for graceMs, the watch probes it with a plain
// WebSocket, with exponential backoff; once a probe connects and the strategy still has not
// reconnected settleMs later, the channel is rejoined on a fresh Trystero instance. No reload.

export const WATCH_DEFAULTS = {
  checkMs: 1000,
  graceMs: 6000,
  settleMs: 2000,
  backoffMs: 1000,
  maxBackoffMs: 30000,
  joinTimeoutMs: 15000,
  probeTimeoutMs: 3000,
  keepErrors: 10,
};

export class ChannelHealth {
  constructor(name, strategy, now) {
    this.name = name;
    this.strategy = strategy;
    this.state = "joining";
    this.relay = "connecting";
    this.relays = {};
    this.peers = 0;
    this.joinedAt = now;
    this.lastMessageAt = null;
    this.lastSentAt = null;
    this.received = 0;
    this.sent = 0;
    this.addressed = 0; // sends that went to chosen peers only
    this.errors = [];   // [{at, message}], newest last
    this.rejoins = 0;
    this.generation = 0;
    this.downSince = null;
    this.everOpen = false;
  }

  error(message, now, keep = WATCH_DEFAULTS.keepErrors) {
    this.errors.push({ at: now, message: String(message) });
    if (this.errors.length > keep) this.errors.splice(0, this.errors.length - keep);
  }

  snapshot() {
    const { everOpen, ...rest } = this;
    return { ...rest, relays: { ...this.relays }, errors: this.errors.slice(), lastError: this.errors.at(-1) ?? null };
  }
}

// Opens a WebSocket to url; resolves true when it opens within timeoutMs.
export function probeRelay(url, { protocols, timeoutMs = WATCH_DEFAULTS.probeTimeoutMs } = {}) {
  return new Promise((resolve) => {
    let ws;
    const done = (ok) => {
      clearTimeout(timer);
      try { ws?.close(); } catch { /* ignore */ }
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    try {
      ws = new WebSocket(url, protocols);
    } catch {
      return done(false);
    }
    ws.onopen = () => done(true);
    ws.onerror = () => done(false);
  });
}

// The decision part of the watch, with time passed in (testable without a browser clock).
export class RelayWatch {
  constructor(health, options = {}) {
    this.health = health;
    this.o = { ...WATCH_DEFAULTS, ...options };
    this.backoff = this.o.backoffMs;
    this.nextProbeAt = 0;
    this.probeOkAt = null;
  }

  // Updates health from the relay sockets and peers; returns "probe", "rejoin" or null.
  observe(now, relayStates, peerCount) {
    const h = this.health;
    h.relays = relayStates;
    h.peers = peerCount;
    const open = Object.values(relayStates).includes("open");
    if (open) {
      h.relay = "open";
      h.everOpen = true;
      h.downSince = null;
      this.backoff = this.o.backoffMs;
      this.nextProbeAt = 0;
      this.probeOkAt = null;
    } else {
      h.relay = h.everOpen ? "down" : "connecting";
      if (h.everOpen || now - h.joinedAt > this.o.joinTimeoutMs) h.downSince ??= now;
    }
    if (h.state !== "closed") {
      h.state = open || peerCount > 0 ? "live"
        : h.everOpen || now - h.joinedAt > this.o.joinTimeoutMs ? "down" : "joining";
    }
    if (open || h.downSince === null || h.state === "closed") return null;
    if (this.probeOkAt !== null) return now - this.probeOkAt >= this.o.settleMs ? "rejoin" : null;
    if (now - h.downSince >= this.o.graceMs && now >= this.nextProbeAt) return "probe";
    return null;
  }

  probed(now, ok) {
    if (ok) {
      this.probeOkAt = now;
    } else {
      this.nextProbeAt = now + this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs);
    }
  }

  rejoined(now) {
    this.probeOkAt = null;
    this.health.rejoins += 1;
    this.health.generation += 1;
    this.health.joinedAt = now;
    this.health.everOpen = false;
    this.health.downSince = null;
    // If the new instance cannot reach the relay either, wait before the next attempt.
    this.nextProbeAt = now + this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs);
  }
}
