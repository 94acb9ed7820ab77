// The node identity: a 32-byte Ed25519 seed, stored encrypted in localStorage exactly as v1 does
// (v1 spec §2.4, docs/v1-spec.md): key "encSynthientId", value base64(ciphertext‖GCM tag) + "." + hex(iv, 12 B)
// + "." + hex(salt, 16 B); key = PBKDF2-HMAC-SHA-256(password, salt, 100 000) -> AES-256-GCM;
// plaintext = JSON {synthientPrivKey, synthientId, createdAt}. A wrong password never touches the
// stored blob; only an explicit "overwrite" replaces it.
import { fromBase64, fromHex, toBase64, toHex } from "./bytes.js";
import { publicKey } from "./ed25519.js";

export const STORE_KEY = "encSynthientId";
const ITERATIONS = 100_000;

export class WrongPassword extends Error {
  constructor() {
    super("Wrong password: the stored identity could not be decrypted. Nothing was changed; " +
          "try again, or tick \"overwrite\" to replace it with a new identity.");
    this.name = "WrongPassword";
  }
}

export function hasIdentity(storage = localStorage) {
  return storage.getItem(STORE_KEY) !== null;
}

async function deriveKey(password, salt) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false,
                                             ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", salt, iterations: ITERATIONS, hash: "SHA-256" },
                                 base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

export async function encrypt(plaintext, password) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await deriveKey(password, salt);
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(plaintext));
  return `${toBase64(ct)}.${toHex(iv)}.${toHex(salt)}`;
}

export async function decrypt(blob, password) {
  const parts = String(blob).split(".");
  if (parts.length !== 3) throw new Error("the stored identity is not in the expected format");
  const [ct, iv, salt] = [fromBase64(parts[0]), fromHex(parts[1]), fromHex(parts[2])];
  const key = await deriveKey(password, salt);
  try {
    return new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, ct));
  } catch (_) {
    throw new WrongPassword();   // GCM authentication failed: wrong password (or a damaged blob)
  }
}

// Unlock the stored identity, or create one when none is stored (or `overwrite` is set).
// Returns {privateKeyHex, synthientId, created}.
export async function unlockOrCreate(password, { overwrite = false, storage = localStorage } = {}) {
  if (!password) throw new Error("Enter a password: it encrypts the node identity stored in this browser.");
  const stored = storage.getItem(STORE_KEY);
  if (stored !== null && !overwrite) {
    const info = JSON.parse(await decrypt(stored, password));
    const synthientId = await publicKey(info.synthientPrivKey);
    if (info.synthientId && info.synthientId !== synthientId) {
      throw new Error("the stored identity is inconsistent (its id does not match its key)");
    }
    return { privateKeyHex: info.synthientPrivKey, synthientId, created: false };
  }
  const privateKeyHex = toHex(crypto.getRandomValues(new Uint8Array(32)));
  const synthientId = await publicKey(privateKeyHex);
  const blob = await encrypt(JSON.stringify({ synthientPrivKey: privateKeyHex, synthientId,
                                              createdAt: new Date().toISOString() }), password);
  storage.setItem(STORE_KEY, blob);
  return { privateKeyHex, synthientId, created: true };
}
