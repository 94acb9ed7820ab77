// One Trystero room per strategy ("channel"): joins it, carries packets on one action, and learns
// which Trystero peer is which synthientId (a "hello" each side sends on join) so packets can be
// addressed to the peers that need them.
//
// Bundles: dist/vendor/trystero/<strategy>.mjs (build_support/site.py, pins.toml vendor.trystero_strategies).
// Names (as v1): appId = topic, roomId = topic + "T"; rakis_py/serve/trystero_names.py mirrors them.

const VENDOR_BASE = new URL("../../vendor/trystero/", import.meta.url).href;
const PACKET_ACTION = "pkt";
const HELLO_ACTION = "hello";
const SYNTHIENT_ID = /^[0-9a-f]{64}$/;

export const roomNames = (topic) => ({ appId: topic, roomId: `${topic}T` });

// Every generation is a fresh module instance (its own relay sockets and retry state): Trystero
// keeps one client per relay URL for the life of the module and stops retrying a relay that was
// away for about a minute, so coming back after that needs a new instance, not a new room.
// Generations are numbered per strategy across the page, so two transports in one page never share
// an instance that one of them retires.
const generations = {};
export const nextGeneration = (strategy) => (generations[strategy] = (generations[strategy] ?? 0) + 1);

export function loadStrategy(strategy, { vendorBase = VENDOR_BASE, generation = 0 } = {}) {
  const url = new URL(`${strategy}.mjs`, vendorBase);
  if (generation > 0) url.searchParams.set("gen", String(generation));
  return import(url.href);
}

export class Room {
  // module: the strategy module; handlers: onPacket(envelope, peerId, synthientId|null),
  // onPeer({type, peerId, synthientId}), onError(message)
  constructor({ name, module, generation, topic, relayUrls, iceServers, selfId, handlers }) {
    this.name = name;
    this.module = module;
    this.generation = generation;
    this.selfId = selfId;
    this.handlers = handlers;
    this.synthientOf = new Map(); // trystero peerId -> synthientId (as the peer said in its hello)
    const { appId, roomId } = roomNames(topic);
    const config = { appId };
    if (relayUrls) config.relayConfig = { urls: relayUrls };
    if (iceServers) config.rtcConfig = { iceServers };
    this.room = module.joinRoom(config, roomId, {
      onJoinError: (e) => handlers.onError?.(`join error with ${e.peerId}: ${e.error}`),
    });
    this.packets = this.room.makeAction(PACKET_ACTION, {
      onMessage: (data, { peerId }) => {
        // Envelopes travel as JSON; binary from a peer is not a packet (the core checks the rest).
        if (data === null || typeof data !== "object" || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ||
            (typeof Blob !== "undefined" && data instanceof Blob)) {
          handlers.onError?.(`dropped a non-JSON packet from ${peerId}`);
          return;
        }
        handlers.onPacket?.(data, peerId, this.synthientOf.get(peerId) ?? null);
      },
    });
    // A hello says who we are and whether we have heard the peer's: a peer that has not heard
    // ours is answered, and greetUnknown() asks again of peers we have not heard, so one lost
    // hello (a busy tab, a link that was still settling) never leaves a link unnamed.
    this.hello = this.room.makeAction(HELLO_ACTION, {
      onMessage: (data, { peerId }) => {
        const id = data?.synthientId;
        if (typeof id !== "string" || !SYNTHIENT_ID.test(id)) return;
        const known = this.synthientOf.get(peerId) === id;
        this.synthientOf.set(peerId, id);
        if (data.heard !== true) this.greet(peerId);
        if (!known) handlers.onPeer?.({ type: "hello", peerId, synthientId: id });
      },
    });
    this.room.onPeerJoin = (peerId) => {
      handlers.onPeer?.({ type: "join", peerId, synthientId: null });
      this.greet(peerId);
    };
    this.room.onPeerLeave = (peerId) => {
      const synthientId = this.synthientOf.get(peerId) ?? null;
      this.synthientOf.delete(peerId);
      handlers.onPeer?.({ type: "leave", peerId, synthientId });
    };
  }

  greet(peerId) {
    if (!this.selfId) return;
    this.hello.send({ synthientId: this.selfId, heard: this.synthientOf.has(peerId) }, { target: peerId })
      .catch(() => {});
  }

  // Peers linked here whose hello has not arrived (yet): greeted again (each answers).
  greetUnknown() {
    const unknown = this.peerIds().filter((peerId) => !this.synthientOf.has(peerId));
    for (const peerId of unknown) this.greet(peerId);
    return unknown.length;
  }

  peerIds() {
    return Object.keys(this.room.getPeers());
  }

  // url -> "connecting" | "open" | "closing" | "closed" for this room's relay sockets.
  relayStates() {
    const names = ["connecting", "open", "closing", "closed"];
    const out = {};
    try {
      for (const [url, socket] of Object.entries(this.module.getRelaySockets?.() ?? {})) {
        out[url] = names[socket?.readyState] ?? "unknown";
      }
    } catch {
      // A strategy without socket introspection: unknown.
    }
    return out;
  }

  // to: null = every peer; else synthientIds. Addressed only when every target is known here by
  // its hello; otherwise broadcast (a peer may not have said hello yet: the core drops extras).
  send(envelope, to = null) {
    let target = null;
    if (to && to.length) {
      const wanted = new Set(to);
      const peers = [...this.synthientOf].filter(([, id]) => wanted.has(id)).map(([peerId]) => peerId);
      const covered = new Set(peers.map((p) => this.synthientOf.get(p)));
      if ([...wanted].every((id) => covered.has(id))) target = peers;
    }
    const promise = this.packets.send(envelope, target ? { target } : undefined);
    return { addressed: target !== null, peers: target ?? this.peerIds(), promise };
  }

  async leave({ retire = false } = {}) {
    try {
      await this.room.leave();
    } finally {
      if (retire) this.retireModule();
    }
  }

  // Closes this module instance's relay sockets for good (it is being replaced by a new
  // generation): reconnection is paused first so the close does not schedule retries.
  retireModule() {
    try {
      this.module.pauseRelayReconnection?.();
      for (const socket of Object.values(this.module.getRelaySockets?.() ?? {})) socket?.close?.();
    } catch {
      // best effort
    }
  }
}
