// Transports carry signed envelopes between nodes. Every transport has the same small shape, so
// Trystero rooms (next issue) plug in beside the loopback without touching the bridge:
//
//   name                       the channel name the node records as deliveredThrough / seenOn
//   start(onPacket)            onPacket(envelopeObject, channel, sizeBytes) for every arriving packet
//   send(envelope, to)         to: null = everyone, else a list of synthientIds (may broadcast anyway)
//   peers()                    synthientIds (or peer ids) currently reachable
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
    setTimeout(() => this.onPacket?.(JSON.parse(text), this.name, new TextEncoder().encode(text).length), 0);
  }

  peers() {
    return [];
  }

  stop() {
    this.onPacket = null;
  }
}

// Fans sends out to every transport and funnels what they receive into one handler.
export class Transports {
  constructor() {
    this.list = [];
    this.sent = 0;
    this.received = 0;
  }

  add(transport, onPacket) {
    transport.start((envelope, channel, size) => {
      this.received += 1;
      onPacket(envelope, channel, size);
    });
    this.list.push(transport);
  }

  send(envelope, to) {
    this.sent += 1;
    for (const t of this.list) t.send(envelope, to);
  }

  channels() {
    return this.list.map((t) => t.name);
  }

  peers() {
    return [...new Set(this.list.flatMap((t) => t.peers()))];
  }
}
