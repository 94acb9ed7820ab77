// Where this page's network is: GET rakis-config.json (written by `rakis serve`: the local relays,
// the network name, no ICE servers), else the open-web defaults (Trystero's public relays, its
// default STUN servers) so a page on a static host (a Huggingface Space) needs nothing else.
//
// Normalised shape:
//   { source: "rakis serve" | "defaults",
//     topic: "rakis2",                               network name (v1 `topic`; another name = another network)
//     relays: { nostr: [urls] | null, mqtt: [urls] | null },   one entry per channel; null = Trystero's defaults
//     iceServers: [..] | null }                      null = Trystero's defaults

export const DEFAULT_TOPIC = "rakis2";
export const DEFAULT_STRATEGIES = ["nostr", "mqtt"];

export function defaults(topic = DEFAULT_TOPIC) {
  return {
    source: "defaults",
    topic,
    relays: Object.fromEntries(DEFAULT_STRATEGIES.map((s) => [s, null])),
    iceServers: null,
  };
}

const isUrlList = (v) => Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === "string" && /^wss?:\/\//.test(u));

// Keeps only what is well formed; anything else falls back to the defaults, field by field.
export function normalise(raw, fallback = defaults()) {
  if (!raw || typeof raw !== "object") return fallback;
  const topic = typeof raw.topic === "string" && raw.topic.length > 0 && raw.topic.length <= 64 ? raw.topic : fallback.topic;
  let relays = fallback.relays;
  if (raw.relays && typeof raw.relays === "object") {
    relays = {};
    for (const [name, urls] of Object.entries(raw.relays)) {
      if (urls === null || isUrlList(urls)) relays[name] = urls;
    }
    if (Object.keys(relays).length === 0) relays = fallback.relays;
  }
  const iceServers = Array.isArray(raw.iceServers) ? raw.iceServers : fallback.iceServers;
  return { source: typeof raw.source === "string" ? raw.source : "config", topic, relays, iceServers };
}

// url: relative to the page (works under a sub-path); topic: an override (e.g. a ?network= URL
// parameter) that wins over both the file and the defaults.
export async function loadConfig({ url = "rakis-config.json", topic = null, timeoutMs = 3000, fetchImpl = fetch } = {}) {
  let config = defaults();
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const r = await fetchImpl(new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href), { signal: ctrl.signal, cache: "no-store" });
    if (r.ok) config = normalise(await r.json());
  } catch {
    // No file (static host) or not JSON: the open-web defaults.
  } finally {
    clearTimeout(timer);
  }
  if (topic) config = { ...config, topic };
  return config;
}

const ICE_EXAMPLE = '[{"urls": "stun:stun.example.org:3478"}]';
const ICE_KEYS = ["urls", "username", "credential"];

// Why `text` (a JSON list of RTCIceServer, the ?iceServers= URL parameter) is not a valid ICE
// server list, or null when it is: the check `rakis serve --ice-servers` makes
// (rakis_py/serve/site_config.py parse_ice_servers), tested against the same cases
// (tests/cases/ice_servers.json). Each entry: `urls` (a stun:/stuns:/turn:/turns: URL or a
// non-empty list of them), and for TURN `username` and `credential` (strings; browsers refuse a
// TURN server without them).
export function iceServersProblem(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON (${err.message}); expected a list such as ${ICE_EXAMPLE}`;
  }
  if (!Array.isArray(value)) return `expected a JSON list of ICE servers, e.g. ${ICE_EXAMPLE}`;
  for (const [i, server] of value.entries()) {
    if (!server || typeof server !== "object" || Array.isArray(server)) return `ICE server ${i} is not an object with "urls"`;
    const unknown = Object.keys(server).filter((k) => !ICE_KEYS.includes(k));
    if (unknown.length) return `ICE server ${i} has unknown keys ${unknown.join(", ")}${unknown.includes("url") ? ' (the key is "urls")' : ""}`;
    const urls = typeof server.urls === "string" ? [server.urls] : server.urls;
    if (!Array.isArray(urls) || !urls.length || !urls.every((u) => typeof u === "string")) {
      return `ICE server ${i}: "urls" must be a URL string or a non-empty list of them`;
    }
    const bad = urls.find((u) => !/^(stuns?|turns?):./.test(u));
    if (bad !== undefined) return `ICE server ${i}: ${JSON.stringify(bad)} is not a stun:, stuns:, turn: or turns: URL`;
    for (const k of ["username", "credential"]) {
      if (k in server && typeof server[k] !== "string") return `ICE server ${i}: "${k}" must be a string`;
    }
    if (urls.some((u) => u.startsWith("turn")) && !("username" in server && "credential" in server)) {
      return `ICE server ${i}: a TURN server needs "username" and "credential"`;
    }
  }
  return null;
}
