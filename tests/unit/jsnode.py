"""Helpers to compare Python against real JavaScript (node) without a lossy JSON hop.

A value is described by a tagged "spec" tree that both sides rebuild exactly:
  ["f", hex]   float64 from its 8 big-endian bytes      ["i", "123"] a Python int (JS: Number("123"))
  ["s", hex]   string from UTF-16LE code units (lone surrogates survive)
  ["t"] ["F"] ["n"]  true / false / null               ["a", [spec, ...]] array
  ["o", [[key_hex_utf16le, spec], ...]] object built by defineProperty, in order
  ["F32", hex] Float32Array from little-endian float32s  ["U8", hex] Uint8Array
Python rebuilds F32 as the index-keyed dict of floats and U8 as `bytes` (what js_stringify takes).
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess

NODE = shutil.which("node")

JS_BUILD = r"""
const hex = h => Buffer.from(h, 'hex');
function str(h) {
  const b = hex(h); const u = [];
  for (let i = 0; i < b.length; i += 2) u.push(b[i] | (b[i + 1] << 8));
  let s = ''; for (let i = 0; i < u.length; i += 4096) s += String.fromCharCode(...u.slice(i, i + 4096));
  return s;
}
function build(s) {
  switch (s[0]) {
    case 'f': { const b = hex(s[1]);  // Buffers share a pool: honour byteOffset
      return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false); }
    case 'i': return Number(s[1]);
    case 's': return str(s[1]);
    case 't': return true; case 'F': return false; case 'n': return null;
    case 'a': return s[1].map(build);
    case 'o': { const o = {};
      for (const [k, v] of s[1]) Object.defineProperty(o, str(k),
        {value: build(v), enumerable: true, writable: true, configurable: true});
      return o; }
    case 'F32': { const b = hex(s[1]); const dv = new DataView(b.buffer, b.byteOffset, b.length);
      const a = new Float32Array(b.length / 4);
      for (let i = 0; i < a.length; i++) a[i] = dv.getFloat32(i * 4, true);
      return a; }
    case 'U8': return new Uint8Array(hex(s[1]));
  }
  throw new Error('bad spec ' + s[0]);
}
const utf8hex = s => Buffer.from(s, 'utf8').toString('hex');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
"""


def run_node(body: str, payload: object) -> str:
    """Run JS_BUILD + body in one node process with `payload` on stdin; return stdout."""
    assert NODE is not None
    proc = subprocess.run(
        [NODE, "-e", JS_BUILD + body],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"node failed: {proc.stderr}")
    return proc.stdout


def enc_str(s: str) -> str:
    return s.encode("utf-16-le", "surrogatepass").hex()


def from_spec(spec: list) -> object:
    tag = spec[0]
    if tag == "f":
        return struct.unpack(">d", bytes.fromhex(spec[1]))[0]
    if tag == "i":
        return int(spec[1])
    if tag == "s":
        return bytes.fromhex(spec[1]).decode("utf-16-le", "surrogatepass")
    if tag == "t":
        return True
    if tag == "F":
        return False
    if tag == "n":
        return None
    if tag == "a":
        return [from_spec(s) for s in spec[1]]
    if tag == "o":
        out: dict = {}
        for k, v in spec[1]:
            out[from_spec(["s", k])] = from_spec(v)
        return out
    if tag == "F32":
        raw = bytes.fromhex(spec[1])
        return {str(i): v for i, (v,) in enumerate(struct.iter_unpack("<f", raw))}
    if tag == "U8":
        return bytes.fromhex(spec[1])
    raise ValueError(tag)


def to_spec(value: object) -> list:
    """Spec of a plain JSON-like Python value (floats/ints/str/bool/None/list/dict/bytes)."""
    if value is None:
        return ["n"]
    if value is True:
        return ["t"]
    if value is False:
        return ["F"]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["f", struct.pack(">d", value).hex()]
    if isinstance(value, str):
        return ["s", enc_str(value)]
    if isinstance(value, (list, tuple)):
        return ["a", [to_spec(v) for v in value]]
    if isinstance(value, dict):
        return ["o", [[enc_str(k), to_spec(v)] for k, v in value.items()]]
    if isinstance(value, (bytes, bytearray)):
        return ["U8", bytes(value).hex()]
    raise TypeError(type(value))


# ---- random case generation -------------------------------------------------------------------

_EDGE_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e21, 1e-7, 1e-6, 9.999999999999999e20, 1e20, 123e18,
    1e-5, 1e-4, 1e15, 1e16, 1e17, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
    float("nan"), float("inf"), float("-inf"), 2.0**53, 2.0**53 + 2, 2.0**63, 2.0**64,
    0.000032, 436226652918683800.0, 1.5e300, -1.5e-300, 100.0, 1234567.0, 0.1 + 0.2,
]
_EDGE_INTS = [0, 1, -1, 2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63, 2**64 + 1, 10**21,
              10**22, 10**400, -(10**400), 123456789012345678901234567890]
_EDGE_KEYS = ["0", "1", "2", "10", "9", "01", "-1", "1.5", "", "a", "b", "__proto__",
              "4294967294", "4294967295", "4294967296", "9007199254740993", "\u0663", "\u00b2",
              "1e3", " 1", "1 ", "constructor", "toString", "length"]


def random_double(rng: random.Random) -> float:
    kind = rng.randrange(7)
    if kind == 0:  # any bit pattern: subnormals, huge, tiny, NaN payloads
        return struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
    if kind == 1:  # float32-rounded values, like v1's embeddings
        return struct.unpack("<f", struct.pack("<f", rng.gauss(0, 0.05)))[0]
    if kind == 2:
        return struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0]
    if kind == 3:  # around the fixed/exponent boundaries
        return rng.choice([1, -1]) * rng.uniform(1, 10) * 10.0 ** rng.randint(-9, 23)
    if kind == 4:
        return float(rng.randint(-(2**60), 2**60))
    if kind == 5:
        return rng.choice(_EDGE_FLOATS)
    return round(rng.uniform(-1000, 1000), rng.randint(0, 8))


def random_string(rng: random.Random, max_len: int = 12) -> str:
    units: list[int] = []
    for _ in range(rng.randint(0, max_len)):
        kind = rng.randrange(8)
        if kind == 0:
            units.append(rng.randrange(0x20))  # control characters
        elif kind == 1:
            units.append(rng.choice([0x22, 0x5C, 0x2F, 0x7F, 0x2028, 0x2029, 0xFEFF, 0xFFFF]))
        elif kind == 2:
            units.append(rng.randrange(0xD800, 0xE000))  # lone (or accidentally paired) surrogate
        elif kind == 3:  # astral character as a proper pair
            cp = rng.randrange(0x10000, 0x110000) - 0x10000
            units += [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]
        elif kind == 4:
            units.append(rng.randrange(0x80, 0xD800))
        else:
            units.append(rng.randrange(0x20, 0x7F))
    return struct.pack(f"<{len(units)}H", *units).decode("utf-16-le", "surrogatepass")


def random_spec(rng: random.Random, depth: int = 0) -> list:
    kind = rng.randrange(10 if depth < 3 else 5)
    if kind == 0:
        return ["f", struct.pack(">d", random_double(rng)).hex()]
    if kind == 1:
        n = rng.choice(_EDGE_INTS + [rng.randint(-(2**70), 2**70), rng.randint(-1000, 1000)])
        return ["i", str(n)]
    if kind == 2:
        return ["s", enc_str(random_string(rng))]
    if kind == 3:
        return [rng.choice(["t", "F", "n"])]
    if kind == 4:
        return ["f", struct.pack(">d", rng.choice(_EDGE_FLOATS)).hex()]
    if kind in (5, 6):
        return ["a", [random_spec(rng, depth + 1) for _ in range(rng.randint(0, 5))]]
    if kind in (7, 8):
        items = []
        for _ in range(rng.randint(0, 6)):
            r = rng.randrange(3)
            k = rng.choice(_EDGE_KEYS) if r == 0 else (
                str(rng.randrange(40)) if r == 1 else random_string(rng, 5))
            items.append([enc_str(k), random_spec(rng, depth + 1)])
        return ["o", items]
    if rng.random() < 0.5:
        words = [rng.getrandbits(32).to_bytes(4, "little") if rng.random() < 0.3
                 else struct.pack("<f", rng.gauss(0, 0.1)) for _ in range(rng.randint(0, 20))]
        return ["F32", b"".join(words).hex()]
    return ["U8", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 20))).hex()]
