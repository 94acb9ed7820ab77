"""`rakis dataset convert` (Parquet and back) and the commands' messages when an extra is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rakis_py.analytics import cli
from rakis_py.analytics import metrics as M
from rakis_py.analytics.io import load_dataset, write_jsonl

from .golden import build_a, build_b

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _canon(ds) -> list[dict]:
    return [ds.meta] + sorted((r for recs in ds.kinds.values() for r in recs),
                              key=lambda r: (r["kind"], r.get("t", 0), json.dumps(r, sort_keys=True)))


@pytest.fixture
def golden_jsonl(tmp_path):
    path = str(tmp_path / "a.jsonl")
    write_jsonl(build_a().records(), path)
    return path


def test_records_are_meta_first_then_time_order():
    recs = build_a().records()
    assert recs[0]["kind"] == "meta" and all(r["kind"] != "meta" for r in recs[1:])
    ts = [r["t"] for r in recs[1:]]
    assert ts == sorted(ts)


def test_convert_to_parquet_and_back_keeps_every_record(tmp_path, golden_jsonl, capsys):
    pytest.importorskip("pyarrow")
    pq_dir = str(tmp_path / "a-parquet")
    assert cli.dataset_main(["convert", golden_jsonl, "--to", "parquet", pq_dir]) == 0
    assert f"as {1 + len(build_a().kinds)} Parquet files" in capsys.readouterr().out    # meta + one per kind
    names = set(os.listdir(pq_dir))
    assert {"meta.parquet", "packet.parquet", "peer.parquet", "published.parquet", "worker.parquet"} <= names
    back = load_dataset(pq_dir)
    assert _canon(back) == _canon(build_a())
    assert M.headline([back]) == M.headline([build_a()])
    # and back to JSON Lines
    out = str(tmp_path / "again.jsonl")
    assert cli.dataset_main(["convert", pq_dir, out, "--to", "jsonl"]) == 0
    assert _canon(load_dataset(out)) == _canon(build_a())


def test_analyze_reads_parquet_datasets(tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    dirs = []
    for name, ds in (("a", build_a()), ("b", build_b())):
        src = str(tmp_path / f"{name}.jsonl")
        write_jsonl(ds.records(), src)
        dirs.append(str(tmp_path / f"{name}-pq"))
        assert cli.dataset_main(["convert", src, dirs[-1]]) == 0        # --to parquet is the default
    out = str(tmp_path / "report")
    assert cli.main([*dirs, "--out", out]) == 0
    with open(os.path.join(out, "figures.json"), encoding="utf-8") as f:
        rows = {r["figure"]: r["value"] for r in json.load(f)}
    assert rows["bytes per token"] == pytest.approx(36_850 / 3000)
    assert rows["requests seen by one observer only (%)"] == pytest.approx(3 / 11)


def test_convert_refuses_to_overwrite_without_force(tmp_path, golden_jsonl, capsys):
    pytest.importorskip("pyarrow")
    pq_dir = str(tmp_path / "pq")
    assert cli.dataset_main(["convert", golden_jsonl, pq_dir]) == 0
    assert cli.dataset_main(["convert", golden_jsonl, pq_dir]) == 2
    assert "not empty; pass --force" in capsys.readouterr().err
    # --force replaces the old kind files: a stale one must not be read back as part of the dataset
    open(os.path.join(pq_dir, "stale.parquet"), "wb").close()
    assert cli.dataset_main(["convert", golden_jsonl, pq_dir, "--force"]) == 0
    assert "stale.parquet" not in os.listdir(pq_dir)
    os.makedirs(tmp_path / "other")
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert cli.dataset_main(["convert", golden_jsonl, str(tmp_path / "other"), "--force"]) == 2
    assert "other than *.parquet" in capsys.readouterr().err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    out = tmp_path / "x.jsonl"
    out.write_text("keep")
    assert cli.dataset_main(["convert", golden_jsonl, str(out), "--to", "jsonl"]) == 2
    assert out.read_text() == "keep" and "pass --force" in capsys.readouterr().err
    assert cli.dataset_main(["convert", golden_jsonl, golden_jsonl, "--to", "jsonl", "--force"]) == 2
    assert "same path" in capsys.readouterr().err
    assert cli.dataset_main(["convert", str(tmp_path / "missing.jsonl"), str(tmp_path / "m")]) == 2
    assert "cannot read dataset" in capsys.readouterr().err


def test_rakis_dataset_convert_command(tmp_path, golden_jsonl):
    pytest.importorskip("pyarrow")
    r = subprocess.run([sys.executable, "-m", "rakis_py", "dataset", "convert", golden_jsonl, "--to", "parquet",
                        str(tmp_path / "pq")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert load_dataset(str(tmp_path / "pq")).node == "me"
    r = subprocess.run([sys.executable, "-m", "rakis_py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert "dataset" in r.stdout


@pytest.mark.parametrize("module", ["matplotlib", "pyarrow"])
def test_a_missing_extra_is_named(monkeypatch, tmp_path, golden_jsonl, capsys, module):
    # sys.modules[name] = None makes `import name` raise ImportError, as if it were not installed
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, f"{module}.pyplot" if module == "matplotlib" else "pyarrow.parquet", None)
    if module == "matplotlib":
        assert cli.main([golden_jsonl, "--out", str(tmp_path / "r")]) == 2
    else:
        assert cli.dataset_main(["convert", golden_jsonl, str(tmp_path / "pq")]) == 2
    err = capsys.readouterr().err
    assert f"needs {module}" in err and "pip install 'rakis-py[analyze]'" in err
    assert not os.path.exists(tmp_path / "r") and not os.path.exists(tmp_path / "pq")


def test_reading_parquet_without_pyarrow_is_named(monkeypatch, tmp_path, golden_jsonl, capsys):
    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    pq_dir = str(tmp_path / "pq")
    assert cli.dataset_main(["convert", golden_jsonl, pq_dir]) == 0
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert cli.main([pq_dir, "--out", str(tmp_path / "r")]) == 2
    assert "reading a Parquet dataset needs pyarrow" in capsys.readouterr().err


def _in_file_requirements(name: str) -> dict[str, str]:
    """requirements/<name>.in as {project name: requirement line}."""
    out = {}
    with open(os.path.join(ROOT, "requirements", f"{name}.in"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                out[line.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()] = line
    return out


def test_the_analyze_extra_matches_the_requirements():
    """`pip install 'rakis-py[analyze]'` (the name the error messages give) gets what the report and
    Parquet need, as requirements/test.in states it."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    wanted = _in_file_requirements("test")
    assert sorted(extras["analyze"]) == sorted(wanted[n] for n in ("matplotlib", "pyarrow"))
