"""Fast tests of build_support pieces on synthetic inputs (no dist, no downloads)."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from build_support import check, pyodide
from build_support.hashing import BuildError, sha256_bytes

from .conftest import ROOT

LOCK = {
    "a": {"name": "a", "depends": ["b_c"], "file_name": "a.whl"},
    "b-c": {"name": "b_c", "depends": ["typing-extensions"], "file_name": "b.whl"},
    "typing-extensions": {"name": "typing-extensions", "depends": [], "file_name": "t.whl"},
    "unused": {"name": "unused", "depends": [], "file_name": "u.whl"},
}


def test_closure_follows_depends_across_name_spellings():
    assert pyodide.closure(LOCK, ["A"]) == ["a", "b-c", "typing-extensions"]


def test_closure_refuses_a_package_the_lock_lacks():
    with pytest.raises(BuildError, match="no package 'nope'"):
        pyodide.closure(LOCK, ["a", "nope"])


def make_dist(tmp_path):
    dist = tmp_path / "dist"
    (dist / "pyodide").mkdir(parents=True)
    wheel = b"wheel bytes"
    (dist / "pyodide" / "x-1-py3-none-any.whl").write_bytes(wheel)
    lock = {"packages": {"x": {"file_name": "x-1-py3-none-any.whl", "sha256": sha256_bytes(wheel)}}}
    (dist / "pyodide" / "pyodide-lock.json").write_text(json.dumps(lock))
    (dist / "index.html").write_text("<p>hi</p>")
    (dist / "models").mkdir()
    (dist / "models" / "manifest.json").write_text(json.dumps({"online": True}))
    (dist / check.INFO).write_text(json.dumps({"files": check.record_files(dist)}))
    return dist


def test_check_accepts_an_intact_dist_and_lists_each_problem(tmp_path):
    dist = make_dist(tmp_path)
    assert check.check_dist(dist) == []
    (dist / "index.html").write_text("<p>changed</p>")
    (dist / "pyodide" / "x-1-py3-none-any.whl").unlink()
    assert check.check_dist(dist) == [
        "modified: index.html (sha256 differs from build-info.json)",
        "missing: pyodide/x-1-py3-none-any.whl",
    ]


def test_check_of_a_folder_without_build_info(tmp_path):
    assert "missing" in check.check_dist(tmp_path)[0]


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_worker_packbits_equals_numpy_packbits():
    rng = np.random.default_rng(7)
    vectors = [rng.standard_normal(384).astype(np.float32) for _ in range(4)] + [np.zeros(13, np.float32)]
    script = (f"import {{ packSignBits }} from {json.dumps(str(ROOT / 'workers' / 'packbits.js'))};"
              "const vs = JSON.parse(process.argv[1]);"
              "console.log(JSON.stringify(vs.map((v) => Array.from(packSignBits(Float32Array.from(v))))));")
    out = subprocess.run(["node", "--input-type=module", "-e", script, json.dumps([v.tolist() for v in vectors])],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [np.packbits(v > 0).tolist() for v in vectors]
