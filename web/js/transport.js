// Transports carry signed envelopes between nodes. Every transport has the same small shape, so
// the Trystero network (web/js/transport/index.js, through NetworkTransport below) plugs in beside
// the loopback without touching the bridge:
//
//   name                       a label; per-packet channel names come with each packet
//   start(onPacket)            (may be async) onPacket(envelopeObject, channel, sizeBytes, receivedAt)
//                              for every arriving packet; channel is recorded as deliveredThrough/seenOn
//   send(envelope, to)         to: null = everyone, else a list of synthientIds (may broadcast anyway)
//   peers()                    synthientIds (or peer ids) currently reachable
//   channels()                 optional: the channel names it delivers on (default [name])
//   stop()
//
// The node already handles its own packets locally when it sends them (as v1 does); the loopback
// hands each one back through the receive path too, where the core drops it as its own echo. It
// exercises the same code path a network will, on a single tab.
export class LoopbackTransport {
  name = "loopback";

  start(onPacket) {
    this.onPacket = onPacket;
  }

  send(envelope) {
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
    for (const t of this.list) t.send(envelope, to);
  }

  channels() {
    return [...new Set(this.list.flatMap((t) => (t.channels ? t.channels() : [t.name])))];
  }

  peers() {
    return [...new Set(this.list.flatMap((t) => t.peers()))];
  }
}
