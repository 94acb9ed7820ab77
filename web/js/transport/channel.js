// A channel: one strategy's room, kept alive across relay outages (health.js decides when to
// rejoin; this file does it). Sends go on the current room; on rejoin the new room is joined first
// and the old one is left, so the channel is never without a room.

import { ChannelHealth, probeRelay, RelayWatch } from "./health.js";
import { loadStrategy, nextGeneration, Room } from "./rooms.js";

// WebSocket subprotocols a relay expects (mosquitto's websockets listener wants "mqtt").
const PROBE_PROTOCOLS = { mqtt: ["mqtt"] };
// Peers whose hello is missing are greeted again every this many health checks (about 3 s).
const GREET_EVERY = 3;

export class Channel {
  constructor({ name, strategy = name, config, selfId, vendorBase, handlers, watch = {}, now = Date.now }) {
    this.name = name;
    this.strategy = strategy;
    this.config = config;
    this.selfId = selfId;
    this.vendorBase = vendorBase;
    this.handlers = handlers;
    this.now = now;
    this.health = new ChannelHealth(name, strategy, now());
    this.watch = new RelayWatch(this.health, watch);
    this.room = null;
    this.timer = null;
    this.busy = false;
    this.ticks = 0;
  }

  async join() {
    this.room = await this.openRoom(0);
    this.timer = setInterval(() => this.check(), this.watch.o.checkMs);
    this.check();
    return this;
  }

  async openRoom(generation) {
    const module = await loadStrategy(this.strategy, { vendorBase: this.vendorBase, generation });
    const h = this.handlers;
    return new Room({
      name: this.name, module, generation, topic: this.config.topic,
      relayUrls: this.config.relays?.[this.name] ?? null, iceServers: this.config.iceServers,
      selfId: this.selfId,
      handlers: {
        onPacket: (data, peerId, synthientId) => {
          const at = this.now();
          this.health.received += 1;
          this.health.lastMessageAt = at;
          h.onPacket?.(data, this.name, at, { peerId, synthientId });
        },
        onPeer: (event) => {
          if (this.room?.generation !== generation) return; // a room being replaced
          this.observe();
          h.onPeer?.({ ...event, channel: this.name });
          h.onChange?.(this);
        },
        onError: (message) => this.error(message),
      },
    });
  }

  error(message) {
    this.health.error(message, this.now());
    this.handlers.onChange?.(this);
  }

  send(envelope, to) {
    if (!this.room || this.health.state === "closed") return null;
    try {
      const { addressed, peers, promise } = this.room.send(envelope, to);
      promise?.catch?.((e) => this.error(`send: ${e?.message ?? e}`));
      this.health.sent += 1;
      if (addressed) this.health.addressed += 1;
      this.health.lastSentAt = this.now();
      return { addressed, peers: peers.length };
    } catch (e) {
      this.error(`send: ${e?.message ?? e}`);
      return null;
    }
  }

  // Health from the room as it is now; returns the watch's decision ("probe", "rejoin" or null).
  observe() {
    if (!this.room || this.health.state === "closed") return null;
    return this.watch.observe(this.now(), this.room.relayStates(), this.room.peerIds().length);
  }

  snapshot() {
    this.observe();
    return this.health.snapshot();
  }

  async check() {
    if (this.busy || !this.room) return;
    this.busy = true;
    const before = `${this.health.state}/${this.health.relay}/${this.health.peers}`;
    try {
      if (++this.ticks % GREET_EVERY === 0) this.room.greetUnknown();
      const decision = this.observe();
      if (decision === "probe") {
        const urls = Object.keys(this.health.relays).length ? Object.keys(this.health.relays)
          : this.config.relays?.[this.name] ?? [];
        const results = await Promise.all(urls.map((u) => probeRelay(u, { protocols: PROBE_PROTOCOLS[this.strategy] })));
        this.watch.probed(this.now(), results.includes(true));
      } else if (decision === "rejoin") {
        await this.rejoin();
      }
    } catch (e) {
      this.error(`watch: ${e?.message ?? e}`);
    } finally {
      this.busy = false;
    }
    if (`${this.health.state}/${this.health.relay}/${this.health.peers}` !== before) this.handlers.onChange?.(this);
  }

  async rejoin() {
    const old = this.room;
    const fresh = await this.openRoom(nextGeneration(this.strategy));
    this.room = fresh;
    this.watch.rejoined(this.now());
    this.health.generation = fresh.generation; // the module instance in use (numbered page-wide)
    this.error(`relay came back: rejoined (generation ${fresh.generation})`);
    for (const peerId of old.peerIds()) {
      this.handlers.onPeer?.({ type: "leave", peerId, synthientId: old.synthientOf.get(peerId) ?? null, channel: this.name });
    }
    await old.leave({ retire: true }).catch(() => {});
  }

  async close() {
    clearInterval(this.timer);
    this.timer = null;
    this.health.state = "closed";
    const room = this.room;
    this.room = null;
    if (room) await room.leave().catch(() => {});
  }
}
