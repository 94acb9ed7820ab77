"""The protocol core runs unchanged on Pyodide (Python 3.14, wasm) from the built dist/, and gives
byte-identical results to CPython for the same events. Node.js hosts Pyodide here (no browser
needed); Ed25519 comes from Node's crypto through a JS provider, as the page will use WebCrypto."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.build

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

RUNNER = r"""
import fs from "node:fs";
import crypto from "node:crypto";
const [pyodideDir, harness, scenario] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideDir + "/pyodide.mjs");
const py = await loadPyodide({ indexURL: pyodideDir + "/" });
const wanted = ["numpy", "pydantic", "rakis-py"];
const loaded = (await py.loadPackage(wanted, { messageCallback: () => {} })).map((p) => p.name);
for (const w of wanted) if (!loaded.includes(w)) { console.error("not loaded: " + w); process.exit(3); }
const PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI = Buffer.from("302a300506032b6570032100", "hex");
const priv = (k) => crypto.createPrivateKey({ key: Buffer.concat([PKCS8, Buffer.from(k)]), format: "der", type: "pkcs8" });
const pub = (k) => crypto.createPublicKey({ key: Buffer.concat([SPKI, Buffer.from(k)]), format: "der", type: "spki" });
globalThis.nodeEd25519 = {
  publicKey: (k) => new Uint8Array(crypto.createPublicKey(priv(k)).export({ format: "der", type: "spki" }).subarray(12)),
  sign: (k, m) => new Uint8Array(crypto.sign(null, Buffer.from(m), priv(k))),
  verify: (p, s, m) => { try { return crypto.verify(null, Buffer.from(m), pub(p), Buffer.from(s)); } catch { return false; } },
};
py.FS.writeFile("/home/pyodide/netharness.py", fs.readFileSync(harness));
py.FS.writeFile("/home/pyodide/core_scenario.py", fs.readFileSync(scenario));
const result = await py.runPythonAsync(`
import sys
sys.path.insert(0, "/home/pyodide")
from js import nodeEd25519
from pyodide.ffi import to_js
from rakis_py.protocol import crypto

class NodeJsProvider:
    def public_key(self, private_key):
        return nodeEd25519.publicKey(to_js(private_key)).to_bytes()
    def sign(self, private_key, message):
        return nodeEd25519.sign(to_js(private_key), to_js(message)).to_bytes()
    def verify(self, public_key, signature, message):
        return bool(nodeEd25519.verify(to_js(public_key), to_js(signature), to_js(message)))

import netharness
netharness.CRYPTO = NodeJsProvider()
import core_scenario
sys.version.split()[0] + "\\n" + core_scenario.run()
`);
process.stdout.write("@@RESULT@@" + result);
"""


def test_core_gives_identical_results_on_pyodide_and_cpython(dist, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not on PATH")
    runner = tmp_path / "run.mjs"
    runner.write_text(RUNNER)
    proc = subprocess.run([node, str(runner), str(dist / "pyodide"), str(ROOT / "tests/unit/netharness.py"),
                           str(HERE / "core_scenario.py")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    version, _, pyodide_out = proc.stdout.partition("@@RESULT@@")[2].partition("\n")
    assert version.startswith("3.14"), version

    sys.path.insert(0, str(ROOT / "tests/unit"))
    sys.path.insert(0, str(HERE))
    try:
        import core_scenario
        cpython_out = core_scenario.run()
    finally:
        sys.path.remove(str(ROOT / "tests/unit"))
        sys.path.remove(str(HERE))
    got, want = json.loads(pyodide_out), json.loads(cpython_out)
    assert got["v2"]["results"][0]["success"] is True
    assert len({r["jointHash"] for r in got["v2"]["results"][:4]}) == 1
    assert got == want
