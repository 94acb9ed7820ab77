"""The built dist: Pyodide lock entries match their wheels, rakis-py is installable from the lock,
models are the pinned files, and `build.py --check` notices tampering."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from build_support.check import check_dist
from build_support.hashing import sha256_file
from build_support.pins import load_pins

from .conftest import ROOT

pytestmark = pytest.mark.build


def lock(dist):
    return json.loads((dist / "pyodide" / "pyodide-lock.json").read_text())


def test_every_lock_entry_has_its_wheel_with_the_right_sha256(dist):
    packages = lock(dist)["packages"]
    assert {"numpy", "pydantic", "pydantic-core", "micropip", "packaging"} <= set(packages)
    for name, entry in packages.items():
        wheel = dist / "pyodide" / entry["file_name"]
        assert wheel.exists(), name
        assert sha256_file(wheel) == entry["sha256"], name


def test_official_wheels_keep_pyodides_own_hashes(dist):
    """Every entry but rakis-py is byte-for-byte Pyodide's (same sha256 as the npm package's lock)."""
    upstream = json.loads((ROOT / ".cache" / "npm" / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
    ours = lock(dist)
    assert ours["info"] == upstream["info"]
    for name, entry in ours["packages"].items():
        if name != "rakis-py":
            assert entry == upstream["packages"][name]


def test_lock_is_closed_under_depends(dist):
    packages = lock(dist)["packages"]
    canon = {n.replace("_", "-").lower() for n in packages}
    for entry in packages.values():
        for dep in entry["depends"]:
            assert dep.replace("_", "-").lower() in canon, (entry["name"], dep)


def test_rakis_py_is_in_the_lock(dist):
    entry = lock(dist)["packages"]["rakis-py"]
    assert entry["imports"] == ["rakis_py"]
    assert set(entry["depends"]) == {"numpy", "pydantic"}
    assert entry["file_name"].startswith("rakis_py-") and entry["file_name"].endswith("-py3-none-any.whl")
    import zipfile
    with zipfile.ZipFile(dist / "pyodide" / entry["file_name"]) as zf:
        assert "rakis_py/__init__.py" in zf.namelist()
        assert "rakis_py/protocol/__init__.py" in zf.namelist()


def test_the_wheel_holds_only_what_the_page_runs_and_imports_whole(dist, tmp_path):
    """No simulator, serve, bench, analytics report or CLI in the page's wheel; and what it holds is
    enough: the two modules the page imports (web/js/boot.js) import from the wheel alone."""
    import zipfile
    entry = lock(dist)["packages"]["rakis-py"]
    with zipfile.ZipFile(dist / "pyodide" / entry["file_name"]) as zf:
        names = [n for n in zf.namelist() if n.startswith("rakis_py/")]
        zf.extractall(tmp_path, members=names)
    for left_out in ("rakis_py/sim/", "rakis_py/bench/", "rakis_py/serve/", "rakis_py/__main__.py",
                     "rakis_py/analytics/report.py", "rakis_py/analytics/metrics.py",
                     "rakis_py/analytics/cli.py", "rakis_py/analytics/io.py",
                     "rakis_py/runtime/sqlite_store.py"):
        assert not [n for n in names if n.startswith(left_out)], left_out
    assert "rakis_py/browser/node_host.py" in names and "rakis_py/runtime/storage.py" in names
    probe = ("import sys, rakis_py.browser.node_host, rakis_py.browser.webcrypto\n"
             "files = {m.__file__ for n, m in sys.modules.items() if n.startswith('rakis_py')}\n"
             f"assert all(f.startswith({str(tmp_path)!r}) for f in files), files\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=60)
    assert done.returncode == 0, done.stderr


def test_models_are_the_pinned_files(dist):
    pins = load_pins()
    manifest = json.loads((dist / "models" / "manifest.json").read_text())
    emb = pins["models"]["embedding"]
    assert manifest["embeddingModelHash"] == emb["output_sha256"]
    for role, spec in pins["models"].items():
        entry = manifest["models"][role]
        path = dist / "models" / spec["name"] / spec["output_file"]
        assert sha256_file(path) == spec["output_sha256"] == entry["sha256"]
        for rel, sha in entry["files"].items():
            assert sha256_file(dist / "models" / spec["name"] / rel) == sha


def test_space_readme_and_vendor_files(dist):
    readme = (dist / "README.md").read_text()
    front = readme.split("---")[1]
    assert "sdk: static" in front and "app_file: index.html" in front
    assert (dist / "index.html").exists()
    for rel in ["vendor/transformers/transformers.min.js", "vendor/trystero/nostr.mjs", "vendor/trystero/mqtt.mjs",
                "vendor/onnxruntime/ort-wasm-simd-threaded.asyncify.wasm", "workers/llm_worker.js",
                "workers/embedding_worker.js"]:
        assert (dist / rel).stat().st_size > 0, rel


@pytest.fixture
def dist_copy(dist, tmp_path):
    """A hard-linked copy of dist: cheap; tests replace files (unlink + write), never edit in place."""
    copy = tmp_path / "dist"
    shutil.copytree(dist, copy, copy_function=os.link)
    return copy


def replace(path, data: bytes):
    path.unlink()
    path.write_bytes(data)


def test_check_passes_on_the_built_dist(dist):
    assert check_dist(dist) == []


def test_check_detects_a_tampered_file(dist_copy):
    target = dist_copy / "workers" / "embedding_worker.js"
    replace(target, target.read_bytes() + b"\n// injected\n")
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "--check", "--out", str(dist_copy)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "modified: workers/embedding_worker.js" in result.stderr


def test_check_detects_missing_extra_and_swapped_wheel(dist_copy):
    (dist_copy / "vendor" / "trystero" / "mqtt.mjs").unlink()
    (dist_copy / "evil.js").write_text("alert(1)")
    lock_path = dist_copy / "pyodide" / "pyodide-lock.json"
    data = json.loads(lock_path.read_text())
    data["packages"]["numpy"]["sha256"] = "0" * 64
    replace(lock_path, json.dumps(data).encode())
    problems = check_dist(dist_copy)
    assert "missing: vendor/trystero/mqtt.mjs" in problems
    assert "unexpected file: evil.js" in problems
    assert "modified: pyodide/pyodide-lock.json (sha256 differs from build-info.json)" in problems
    assert any(p.startswith("pyodide-lock.json: numpy") for p in problems)


def test_check_refuses_a_swapped_model_even_with_a_matching_build_info(dist_copy):
    """Rewriting build-info.json along with the model does not hide it: the model hash is pinned."""
    from build_support.check import INFO, record_files
    model = dist_copy / "models" / "all-MiniLM-L6-v2" / "onnx" / "model_quantized.onnx"
    replace(model, b"not the pinned model")
    info = json.loads((dist_copy / INFO).read_text())
    info["files"] = record_files(dist_copy)
    replace(dist_copy / INFO, json.dumps(info).encode())
    problems = check_dist(dist_copy)
    assert problems == ["models/all-MiniLM-L6-v2/onnx/model_quantized.onnx: not the file pins.toml pins for "
                        "models.embedding (" + load_pins()["models"]["embedding"]["output_sha256"] + ")"]


def test_online_models_build_ships_no_models(dist, tmp_path):
    """--online-models (untested in a browser here: no hub) leaves the models out and says so."""
    out = tmp_path / "online"
    subprocess.run([sys.executable, str(ROOT / "build.py"), "-q", "--online-models", "--out", str(out)], check=True)
    manifest = json.loads((out / "models" / "manifest.json").read_text())
    assert manifest["online"] is True and manifest["embeddingModelHash"] is None
    assert {m["hub_id"] for m in manifest["models"].values()} == {
        "Xenova/all-MiniLM-L6-v2", "HuggingFaceTB/SmolLM2-135M-Instruct"}
    assert not list((out / "models").rglob("*.onnx"))
    assert (out / "pyodide" / "pyodide-lock.json").exists()
    assert check_dist(out) == []
