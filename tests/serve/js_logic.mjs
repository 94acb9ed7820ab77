// Node checks of the browser-free parts of web/js/transport (config normalisation, the rejoin rule),
// run by test_transport_logic.py. Prints one JSON line of named results; the Python side asserts.
import { defaults, loadConfig, normalise } from "../../web/js/transport/config.js";
import { ChannelHealth, RelayWatch } from "../../web/js/transport/health.js";
import { Room } from "../../web/js/transport/rooms.js";

const out = {};

out.defaults = defaults();
out.served = normalise({ topic: "lab", relays: { nostr: ["ws://10.0.0.2:8001"], mqtt: ["ws://10.0.0.2:8002"] }, iceServers: [] });
out.hostile = normalise({ topic: 5, relays: { nostr: ["javascript:alert(1)"], mqtt: "x" }, iceServers: "no" });
out.partial = normalise({ relays: { nostr: ["wss://relay.example"], mqtt: ["bad"] } });
out.notFound = await loadConfig({ url: "http://x/rakis-config.json", fetchImpl: async () => ({ ok: false }) });
out.fetchFails = await loadConfig({ url: "http://x/c.json", topic: "fork", fetchImpl: async () => { throw new Error("offline"); } });
out.fetched = await loadConfig({ url: "http://x/c.json", fetchImpl: async () => ({ ok: true, json: async () => ({ topic: "t", relays: { nostr: ["ws://h:1"] }, iceServers: [] }) }) });

// The rejoin rule on a scripted timeline (ms): relay open, relay lost (peers stay), then gone.
const o = { graceMs: 6000, settleMs: 2000, backoffMs: 1000, maxBackoffMs: 4000, joinTimeoutMs: 15000 };
const h = new ChannelHealth("nostr", "nostr", 0);
const w = new RelayWatch(h, o);
const up = { "ws://r": "open" }, down = { "ws://r": "closed" };
const trace = [];
const step = (t, relays, peers, probeOk) => {
  const d = w.observe(t, relays, peers);
  if (d === "probe") w.probed(t, probeOk);
  if (d === "rejoin") w.rejoined(t);
  trace.push([t, h.state, h.relay, d]);
};
step(0, { "ws://r": "connecting" }, 0);
step(500, up, 0);
step(1000, up, 1);
step(2000, down, 1);          // relay lost, the peer link remains: still live
step(5000, down, 0);          // link gone too: down
step(7999, down, 0);          // inside the grace period: nothing
step(8000, down, 0, false);   // probe fails: backoff 1 s
step(8500, down, 0);          // waiting for the backoff
step(9000, down, 0, false);   // probe fails again: backoff 2 s
step(10000, down, 0);
step(11000, down, 0, true);   // probe connects
step(12000, down, 0);         // settling: the strategy may reconnect by itself
step(13000, down, 0);         // it did not: rejoin
step(13500, { "ws://r": "connecting" }, 0);
step(14000, up, 1);
out.trace = trace;
out.afterRejoin = { rejoins: h.rejoins, generation: h.generation, state: h.state };

// A relay that heals by itself within the grace period never triggers a probe.
const h2 = new ChannelHealth("mqtt", "mqtt", 0);
const w2 = new RelayWatch(h2, o);
const d2 = [w2.observe(0, up, 0), w2.observe(1000, down, 0), w2.observe(3000, down, 0), w2.observe(4000, up, 0), w2.observe(20000, up, 0)];
out.selfHealed = { decisions: d2, rejoins: h2.rejoins, state: h2.state };

// Errors are bounded.
const h3 = new ChannelHealth("x", "x", 0);
for (let i = 0; i < 25; i++) h3.error(`e${i}`, i);
out.errors = h3.snapshot().errors.map((e) => e.message);

// Hellos over a scripted link that loses the first `lose` messages: two Rooms on a fake
// Trystero module (joinRoom/makeAction/onPeerJoin, all a Room uses). A lost hello is made good
// by greetUnknown() on the side that has not heard, and answered by the other.
function fakePair(lose) {
  const rooms = {};
  let lost = 0;
  const module = (me, other) => ({
    joinRoom: () => {
      const actions = {};
      const r = {
        makeAction: (name, { onMessage }) => {
          actions[name] = onMessage;
          return { send: async (data) => {
            if (lost < lose) { lost += 1; return; }
            rooms[other].actions[name]?.(structuredClone(data), { peerId: me });
          } };
        },
        getPeers: () => ({ [other]: {} }),
        leave: async () => {},
      };
      rooms[me] = { actions, r };
      return r;
    },
  });
  const ids = { a: "a".repeat(64), b: "b".repeat(64) };
  const heard = { a: [], b: [] };
  const make = (me, other) => new Room({ name: "x", module: module(me, other), generation: 0, topic: "t", selfId: ids[me],
    handlers: { onPeer: (e) => e.type === "hello" && heard[me].push(e.synthientId.slice(0, 1)) } });
  const a = make("a", "b"), b = make("b", "a");
  rooms.a.r.onPeerJoin("b");   // both sides see the link open; both hellos are lost
  rooms.b.r.onPeerJoin("a");
  return { a, b, heard };
}
{
  const { a, b, heard } = fakePair(2);
  await new Promise((r) => setTimeout(r, 0));
  const before = { a: [...heard.a], b: [...heard.b] };
  const regreeted = { a: a.greetUnknown(), b: b.greetUnknown() };
  await new Promise((r) => setTimeout(r, 0));
  out.hello = { before, regreeted, after: heard, again: { a: a.greetUnknown(), b: b.greetUnknown() } };
}

console.log(JSON.stringify(out));
