"""The build figures (rakis_py/bench/build.py) driven through a stub build.py in a fake checkout (the
real build is timed by `rakis bench`, not here), and the ready-time split of the browser group
from hand-built status() answers."""
import json
import textwrap
from pathlib import Path

import pytest

from rakis_py.bench import browser, build
from rakis_py.bench.runner import Context, Unavailable, is_measured, run_groups

STUB = textwrap.dedent('''
    import argparse, json, pathlib, sys
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=pathlib.Path, required=True)
    ap.add_argument("--cache", type=pathlib.Path)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("-q", action="store_true")
    a = ap.parse_args()
    log = pathlib.Path(__file__).with_name("calls.jsonl")
    with log.open("a") as f:
        f.write(json.dumps(sys.argv[1:]) + "\\n")
    files = {"index.html": 1_000_000, "models/llm/model.onnx": 3_000_000, "pyodide/pyodide.asm.wasm": 2_500_000}
    for rel, size in files.items():
        p = a.out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)
    (a.out / "build-info.json").write_text(json.dumps({"files": sorted(files)}))
''')


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "build.py").write_text(STUB)
    for d in build.DOWNLOADS:
        (tmp_path / ".cache" / d).mkdir(parents=True)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "keep").write_text("the checkout's dist")
    return tmp_path


def calls(root: Path) -> list[list[str]]:
    return [json.loads(x) for x in (root / "calls.jsonl").read_text().splitlines()]


def test_quick_mode_warm_builds_and_size_without_touching_dist(checkout):
    figs = run_groups([build.GROUP], Context(quick=True, root=checkout, log=lambda m: None))
    assert list(figs) == ["dist_mb", "build_warm_s", "build_cold_s"]
    assert figs["dist_mb"]["median"] == 6.5 and figs["dist_mb"]["unit"] == "MB" and "3 files" in figs["dist_mb"]["note"]
    assert figs["build_warm_s"]["runs"] == 2 and figs["build_warm_s"]["unit"] == "s"
    assert figs["build_cold_s"]["value"] is None and "full mode only" in figs["build_cold_s"]["reason"]
    argv = calls(checkout)
    assert len(argv) == 2 and "--force" not in argv[0] and "--force" in argv[1]
    out = Path(argv[0][argv[0].index("--out") + 1])
    assert out.parent.parent == checkout / ".cache" and not out.exists()      # a temporary folder, removed
    assert sorted(p.name for p in (checkout / "dist").iterdir()) == ["keep"]  # the checkout's dist untouched
    assert [p.name for p in (checkout / ".cache").iterdir() if p.name.startswith("bench-build-")] == []


def test_full_mode_cold_build_uses_a_cache_of_the_downloads_only(checkout):
    figs = run_groups([build.GROUP], Context(quick=False, root=checkout, log=lambda m: None), only=["build_cold_s"])
    assert is_measured(figs["build_cold_s"]) and figs["build_cold_s"]["runs"] == 2
    argv = calls(checkout)
    assert len(argv) == 2 and all("--cache" in a for a in argv)


def test_no_warm_cache_is_unavailable(tmp_path):
    (tmp_path / "build.py").write_text(STUB)
    with pytest.raises(Unavailable, match="no warm build cache"):
        build.measure(Context(quick=True, root=tmp_path, log=lambda m: None), frozenset({"dist_mb"}))


def test_a_failing_build_is_a_reason_not_a_number(checkout):
    (checkout / "build.py").write_text("import sys; print('pins.toml: bad hash', file=sys.stderr); sys.exit(1)")
    figs = run_groups([build.GROUP], Context(quick=True, root=checkout, log=lambda m: None), only=["dist_mb"])
    assert figs["dist_mb"]["value"] is None and "bad hash" in figs["dist_mb"]["reason"]


def test_sizes_per_part():
    assert build.part_of("models/llm/model.onnx") == "models/llm"
    assert build.part_of("pyodide/rakis_py-0.1-py3-none-any.whl") == "pyodide/rakis_py wheel"
    assert build.part_of("pyodide/numpy-2.whl") == "pyodide/official wheels"
    assert build.part_of("js/boot.js") == "page"


def test_ready_split_figures():
    workers = [{"kind": "llm", "model": "SmolLM2", "backend": "wasm", "state": "ready", "loadMs": 9000},
               {"kind": "embedding", "model": "MiniLM", "backend": "wasm", "state": "ready", "loadMs": 2000}]
    splits = [{"pyodide": 4.0, "rakis_py": 2.0, "llm_model": 9.0, "embedding_model": 2.0},
              {"pyodide": 6.0, "rakis_py": 3.0, "llm_model": 11.0}]
    figs = browser.split_figures("cold", splits, workers, "cold profile")
    assert list(figs) == list(browser.split_names("cold"))
    assert figs["ready_cold_pyodide_s"]["median"] == 5.0 and figs["ready_cold_pyodide_s"]["runs"] == 2
    assert "SmolLM2 on wasm" in figs["ready_cold_llm_model_s"]["note"]
    assert figs["ready_cold_embedding_model_s"]["runs"] == 1
    none = browser.split_figures("warm", [{}], [], "x")
    assert all(f["value"] is None for f in none.values())
    assert set(browser.READY.figures) >= {"ready_cold_s", "ready_warm_s", *browser.split_names("warm")}
