// Ed25519 through the browser's WebCrypto, for the Python core (rakis_py/browser/webcrypto.py awaits
// these promises with Pyodide's run_sync). Only hex strings and booleans cross into Python.
// Imported CryptoKeys are cached: importing a key costs about as much as one verification.
import { fromBase64Url, fromHex, toHex } from "./bytes.js";

// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410): WebCrypto imports private keys only so.
const PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
const ALG = { name: "Ed25519" };
const MAX_PUBLIC_KEYS = 4096;

const privateKeys = new Map();   // privHex -> Promise<{key, publicHex}>
const publicKeys = new Map();    // pubHex -> Promise<CryptoKey>

function importPrivate(privHex) {
  let entry = privateKeys.get(privHex);
  if (!entry) {
    entry = (async () => {
      const seed = fromHex(privHex);
      if (seed.length !== 32) throw new Error("an Ed25519 private key is 32 bytes");
      const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
      pkcs8.set(PKCS8_PREFIX);
      pkcs8.set(seed, PKCS8_PREFIX.length);
      // Extractable only to read the public half (jwk "x"); the page keeps the seed anyway.
      const key = await crypto.subtle.importKey("pkcs8", pkcs8, ALG, true, ["sign"]);
      const jwk = await crypto.subtle.exportKey("jwk", key);
      return { key, publicHex: toHex(fromBase64Url(jwk.x)) };
    })();
    entry.catch(() => privateKeys.delete(privHex));
    privateKeys.set(privHex, entry);
  }
  return entry;
}

function importPublic(pubHex) {
  let entry = publicKeys.get(pubHex);
  if (!entry) {
    if (publicKeys.size >= MAX_PUBLIC_KEYS) publicKeys.delete(publicKeys.keys().next().value);
    entry = crypto.subtle.importKey("raw", fromHex(pubHex), ALG, false, ["verify"]);
    entry.catch(() => publicKeys.delete(pubHex));
    publicKeys.set(pubHex, entry);
  }
  return entry;
}

export async function publicKey(privHex) {
  return (await importPrivate(privHex)).publicHex;
}

export async function sign(privHex, msgHex) {
  const { key } = await importPrivate(privHex);
  return toHex(await crypto.subtle.sign(ALG, key, fromHex(msgHex)));
}

export async function verify(pubHex, sigHex, msgHex) {
  try {
    const key = await importPublic(pubHex);
    return await crypto.subtle.verify(ALG, key, fromHex(sigHex), fromHex(msgHex));
  } catch (_) {
    return false;   // not a valid point / malformed: not a valid signature
  }
}

// True when this browser's WebCrypto has Ed25519 (Chromium 137+, Firefox 129+, Safari 17+).
export async function available() {
  try {
    await crypto.subtle.generateKey(ALG, false, ["sign", "verify"]);
    return true;
  } catch (_) {
    return false;
  }
}

export const bridge = { publicKey, sign, verify };
