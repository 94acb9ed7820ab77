// The page's network: Trystero rooms on several strategies at once, used as redundant channels.
//
//   import { createTransport } from "./transport/index.js";
//   const transport = await createTransport({
//     selfId,                 // our synthientId (64 hex): said to each peer so packets can be addressed
//     onPacket(envelope, channel, receivedAt, {peerId, synthientId, bytes}) {},
//                             // every copy from every channel: the receiver keeps the first (the core
//                             // dedups by signature) and records `channel` as deliveredThrough/seenOn.
//                             // synthientId: what that Trystero peer said it is (unauthenticated; the
//                             // envelope's own synthientId and signature are what count). bytes: the
//                             // JSON size, computed when read.
//     onPeer({type: "join" | "hello" | "leave", channel, peerId, synthientId}) {},
//     onChange(channels) {},  // health changed (state, relay, peer count): channels() snapshot
//     config,                 // optional: skip the fetch (see config.js for the shape)
//     topic,                  // optional network-name override (e.g. a ?network= URL parameter)
//     strategies,             // optional: which channels (default: those the config lists)
//     vendorBase,             // optional: where <strategy>.mjs bundles live (default ../../vendor/trystero/)
//   });
//   transport.send(envelope, toSynthientIds?)  // on every live channel; addressed to those peers where
//                                             // every one is known on that channel, else broadcast.
//                                             // -> {nostr: {addressed, peers} | null, mqtt: ...}
//   transport.channels()   // [{name, state, relay, relays, peers, lastMessageAt, received, sent,
//                          //   errors, lastError, rejoins, generation, ...}] (health.js)
//   transport.peers()      // [{channel, peerId, synthientId}] of every open link
//   transport.config       // the configuration in use (config.js)
//   await transport.close()
//
// A channel whose relay dies keeps its open peer links; when the relay comes back the channel
// rejoins on its own (health.js). A channel that failed to join at all is reported with state
// "down" and the error; the others carry on.

import { loadConfig, normalise } from "./config.js";
import { Channel } from "./channel.js";

export { loadConfig } from "./config.js";

export async function createTransport({
  selfId = null, onPacket, onPeer, onChange, config = null, topic = null, strategies = null,
  vendorBase, watch, now = Date.now,
} = {}) {
  const cfg = config ? normalise(config) : await loadConfig({ topic });
  if (config && topic) cfg.topic = topic;
  const names = strategies ?? Object.keys(cfg.relays);
  const channels = [];
  const snapshot = () => channels.map((c) => c.snapshot());
  const handlers = {
    onPacket: (envelope, channel, receivedAt, info) => {
      let bytes;
      const extra = {
        ...info,
        get bytes() { return (bytes ??= new TextEncoder().encode(JSON.stringify(envelope)).length); },
      };
      onPacket?.(envelope, channel, receivedAt, extra);
    },
    onPeer: (event) => onPeer?.(event),
    onChange: () => onChange?.(snapshot()),
  };
  await Promise.all(names.map(async (name) => {
    const channel = new Channel({ name, config: cfg, selfId, vendorBase, handlers, watch, now });
    channels.push(channel);
    try {
      await channel.join();
    } catch (e) {
      // A missing bundle or a strategy that throws: reported, the other channels carry on.
      channel.health.state = "down";
      channel.error(`join failed: ${e?.message ?? e}`);
    }
  }));
  return {
    config: cfg,
    send(envelope, to = null) {
      const out = {};
      for (const c of channels) out[c.name] = c.send(envelope, to);
      return out;
    },
    channels: snapshot,
    peers() {
      return channels.flatMap((c) => (c.room ? c.room.peerIds().map((peerId) => ({
        channel: c.name, peerId, synthientId: c.room.synthientOf.get(peerId) ?? null,
      })) : []));
    },
    async close() {
      await Promise.all(channels.map((c) => c.close()));
    },
    _channels: channels, // internal (tests, debugging): the Channel objects
  };
}
