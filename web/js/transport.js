// Transports carry signed envelopes between nodes. Every transport has the same small shape, so
// the Trystero network (web/js/transport/index.js, through NetworkTransport below) plugs in without
// touching the bridge:
//
//   name                       a label; per-packet channel names come with each packet
//   start(onPacket)            (may be async) onPacket(envelopeObject, channel, sizeBytes, receivedAt)
//                              for every arriving packet; channel is recorded as deliveredThrough/seenOn
//   send(envelope, to)         to: null = everyone, else a list of synthientIds (may broadcast anyway)
//   peers()                    synthientIds (or peer ids) currently reachable
//   channels()                 optional: the channel names it delivers on (default [name])
//   stop()
//
// The node handles its own packets locally when it sends them (as v1 does), so the page adds no
// transport that hands them back: an echo would only cross into Python to be refused as its own.
// LoopbackTransport is kept for tests of this module without a network (tests/unit/test_web_js.py):
// it delivers each sent envelope back asynchronously, as a parsed copy; given selfId, only that
// node's own envelopes.
export class LoopbackTransport {
  name = "loopback";

  constructor(selfId = null) {
    this.selfId = selfId;
  }

  start(onPacket) {
    this.onPacket = onPacket;
  }

  send(envelope) {
    if (this.selfId && envelope?.synthientId !== this.selfId) return;
    const text = JSON.stringify(envelope);
    // Asynchronous like a real network; a parsed copy, as a data channel would deliver it.
    setTimeout(() => this.onPacket?.(JSON.parse(text), this.name, new TextEncoder().encode(text).length,
                                     Date.now()), 0);
  }

  peers() {
    return [];
  }

  stop() {
    this.onPacket = null;
  }
}

// The Trystero network as one transport: `createTransport` is web/js/transport/index.js's export
// (injected, so this file does not load Trystero unless asked to). Peers are reported by the
// synthientId they announced (unauthenticated; only envelope signatures count).
export class NetworkTransport {
  name = "network";

  constructor(createTransport, options = {}) {
    this.createTransport = createTransport;
    this.options = options;
    this.net = null;
  }

  async start(onPacket) {
    this.net = await this.createTransport({
      ...this.options,
      onPacket: (envelope, channel, receivedAt, info) => onPacket(envelope, channel, info?.bytes, receivedAt),
    });
  }

  // Per-channel health (web/js/transport/health.js records), for the UI.
  health() {
    return this.net?.channels() ?? [];
  }

  links() {
    return this.net?.peers() ?? [];
  }

  send(envelope, to) {
    this.net?.send(envelope, to ?? null);
  }

  peers() {
    return (this.net?.peers() ?? []).map((p) => p.synthientId ?? p.peerId);
  }

  channels() {
    return (this.net?.channels() ?? []).map((c) => c.name);
  }

  stop() {
    return this.net?.close();
  }
}

// Fans sends out to every transport and funnels what they receive into one handler.
export class Transports {
  constructor() {
    this.list = [];
    this.sent = 0;
    this.received = 0;
    // Traffic this node originates, each packet counted once (not once per channel or peer):
    // totals and per request (a packet's requestId), for the figures of docs/network.md.
    this.traffic = { packets: 0, bytes: 0, byType: {}, byRequest: {} };
  }

  #count(envelope) {
    const bytes = new TextEncoder().encode(JSON.stringify(envelope)).length;
    const t = this.traffic;
    const type = envelope?.packet?.type ?? "?";
    const rid = envelope?.packet?.requestId;
    t.packets += 1;
    t.bytes += bytes;
    const add = (o, k) => { o[k] ??= { packets: 0, bytes: 0 }; o[k].packets += 1; o[k].bytes += bytes; };
    add(t.byType, type);
    if (rid) add(t.byRequest, rid);
  }

  // onPacket(envelope, channel, size, receivedAt). Resolves once the transport has started.
  async add(transport, onPacket) {
    this.list.push(transport);
    await transport.start((envelope, channel, size, receivedAt) => {
      this.received += 1;
      onPacket(envelope, channel, size, receivedAt ?? Date.now());
    });
  }

  send(envelope, to) {
    this.sent += 1;
    this.#count(envelope);
    for (const t of this.list) {
      try {
        t.send(envelope, to);
      } catch (err) {
        console.error(`transport ${t.name}: send failed`, err);   // the other transports still send
      }
    }
  }

  // Channel health of every transport that reports it (the network's channels).
  health() {
    return this.list.flatMap((t) => (t.health ? t.health() : []));
  }

  links() {
    return this.list.flatMap((t) => (t.links ? t.links() : []));
  }

  channels() {
    return [...new Set(this.list.flatMap((t) => (t.channels ? t.channels() : [t.name])))];
  }

  peers() {
    return [...new Set(this.list.flatMap((t) => t.peers()))];
  }
}
