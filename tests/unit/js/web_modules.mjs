// Runs web/js modules in Node (WebCrypto, atob/btoa and setTimeout are the same APIs as in the page)
// and prints what they produced as JSON, for tests/unit/test_web_js.py to check with Python.
import { bridge as ed } from "../../../web/js/ed25519.js";
import { decrypt, encrypt, STORE_KEY, unlockOrCreate, WrongPassword } from "../../../web/js/identity.js";
import { Timers } from "../../../web/js/timers.js";
import { LoopbackTransport, NetworkTransport, Transports } from "../../../web/js/transport.js";

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const [cmd, ...args] = process.argv.slice(2);
let out;

if (cmd === "identity") {
  const storage = new MemoryStorage();
  const created = await unlockOrCreate("pw one", { storage });
  const blob = storage.getItem(STORE_KEY);
  const unlocked = await unlockOrCreate("pw one", { storage });
  let wrong = null;
  try { await unlockOrCreate("pw two", { storage }); } catch (e) { wrong = { name: e.name, message: e.message, isWrong: e instanceof WrongPassword }; }
  const afterWrong = storage.getItem(STORE_KEY);
  let empty = null;
  try { await unlockOrCreate("", { storage }); } catch (e) { empty = e.message; }
  const overwritten = await unlockOrCreate("pw two", { storage, overwrite: true });
  out = { created, blob, unlocked, wrong, blobUnchanged: afterWrong === blob, empty, overwritten,
          blobAfterOverwrite: storage.getItem(STORE_KEY) };
} else if (cmd === "decrypt") {
  // args: blob password
  try { out = { plaintext: await decrypt(args[0], args[1]) }; } catch (e) { out = { error: e.name }; }
} else if (cmd === "encrypt") {
  out = { blob: await encrypt(args[0], args[1]) };
} else if (cmd === "ed25519") {
  // args: privHex msgHex pubHex sigHex(from Python)
  const [priv, msg, pub, sig] = args;
  out = {
    publicKey: await ed.publicKey(priv),
    signature: await ed.sign(priv, msg),
    verifiesPython: await ed.verify(pub, sig, msg),
    rejectsTampered: !(await ed.verify(pub, sig, msg.slice(0, -2) + (msg.endsWith("00") ? "01" : "00"))),
    rejectsBadKey: !(await ed.verify("ee".repeat(32), sig, msg)),
  };
} else if (cmd === "timers") {
  const fired = [];
  const t = new Timers((id) => fired.push(id));
  const now = Date.now();
  t.set("b", now + 40);
  t.set("a", now + 10);
  t.set("c", now + 20);
  t.cancel("c");
  t.set("d", now + 30);
  t.set("d", now + 60);     // replaces the earlier d
  t.set("past", now - 1000);
  const listed = t.list().map((x) => x.timerId);
  await sleep(120);
  out = { fired, listed, left: t.size };
} else if (cmd === "loopback") {
  const got = [];
  const ts = new Transports();
  ts.add(new LoopbackTransport(), (env, channel, size) => got.push({ env, channel, size }));
  const envelope = { synthientId: "ab", signature: "cd", packet: { type: "x", text: "é" } };
  ts.send(envelope, null);
  const before = got.length;
  await sleep(20);
  // Given its node's id, the loopback echoes only that node's envelopes (not relayed ones).
  const own = [];
  const mine = new LoopbackTransport("ab");
  mine.start((env) => own.push(env.synthientId));
  mine.send(envelope);
  mine.send({ ...envelope, synthientId: "ef" });
  await sleep(20);
  out = { before, got, own, sameObject: got[0]?.env === envelope, channels: ts.channels(), sent: ts.sent, received: ts.received };
} else if (cmd === "network") {
  // A stand-in for web/js/transport/index.js createTransport: records sends, delivers one packet.
  const sent = [];
  let given = null;
  const fake = async (options) => {
    given = options;
    return {
      send: (envelope, to) => sent.push({ envelope, to }),
      peers: () => [{ channel: "nostr", peerId: "p1", synthientId: "aa" }, { channel: "mqtt", peerId: "p2", synthientId: null }],
      channels: () => [{ name: "nostr", state: "live" }, { name: "mqtt", state: "down" }],
      close: async () => { sent.push("closed"); },
    };
  };
  const got = [];
  const ts = new Transports();
  await ts.add(new LoopbackTransport(), () => {});
  await ts.add(new NetworkTransport(fake, { selfId: "me" }), (env, channel, size, receivedAt) => got.push({ env, channel, size, receivedAt }));
  given.onPacket({ packet: 1 }, "mqtt", 1234, { bytes: 77 });
  ts.send({ e: 1 }, ["aa"]);
  ts.send({ e: 2 });
  await ts.list[1].stop();
  out = { selfId: given.selfId, got, sent, channels: ts.channels(), peers: ts.peers() };
} else {
  throw new Error(`unknown command ${cmd}`);
}
console.log(JSON.stringify(out));
