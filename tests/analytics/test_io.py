"""Writers and readers: JSON Lines, Parquet, and the simulator's rakis-dataset/0 files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rakis_py.analytics import metrics as M
from rakis_py.analytics.io import Dataset, load_dataset, write_jsonl, write_parquet

from .golden import build_a

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _all(ds: Dataset) -> list[dict]:
    return [ds.meta] + sorted((r for recs in ds.kinds.values() for r in recs),
                              key=lambda r: (r["kind"], r.get("t", 0), json.dumps(r, sort_keys=True)))


def test_jsonl_round_trip(tmp_path):
    a = build_a()
    path = str(tmp_path / "a.jsonl")
    n = write_jsonl(_all(a), path)
    assert n == 1 + sum(len(v) for v in a.kinds.values())
    b = load_dataset(path)
    assert _all(b) == _all(a)
    assert load_dataset(str(tmp_path / "a.jsonl")).node == "me"
    os.rename(path, tmp_path / "dataset.jsonl")
    assert load_dataset(str(tmp_path)).node == "me"          # a directory holding dataset.jsonl


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    a = build_a()
    paths = write_parquet(_all(a), str(tmp_path / "pq"))
    assert {os.path.basename(p) for p in paths} >= {"meta.parquet", "packet.parquet", "published.parquet"}
    b = load_dataset(str(tmp_path / "pq"))
    assert _all(b) == _all(a)
    assert M.consensus_outcomes(b) == M.consensus_outcomes(a)
    assert M.chain_distribution(b) == M.chain_distribution(a)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    subprocess.run([sys.executable, "-m", "rakis_py", "sim", "--scenario", "tiny", "--seed", "1", "--out", str(out),
                    "--no-report", "--network-log"],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    return str(out)


def test_simulator_dataset_is_read_as_one_observers_view(sim_dir):
    ds = load_dataset(os.path.join(sim_dir, "network.jsonl"))
    with open(os.path.join(sim_dir, "summary.json")) as f:
        summary = json.load(f)
    assert ds.meta["runtime"] == "sim" and ds.meta["source"]["schema"] == "rakis-dataset/0"
    # one observer sees every other node's packets once: the network's distinct packets, less its own
    eff = M.traffic_efficiency(ds)
    # Relayed copies of one signed envelope are one packet to an observer. The v0 file does not
    # carry signatures, so relayed copies cannot be told apart exactly: bounds, not equality
    # (known gap: the simulator should write rakis-dataset/1 through DatasetRecorder).
    assert 0.8 * summary["distinct_packets"] <= eff["packets"] <= summary["distinct_packets"]
    tokens = summary["tokens"]
    assert eff["tokens"] == tokens
    assert eff["tokens_per_packet"] == pytest.approx(tokens / eff["packets"], abs=1e-3)
    cons = M.consensus_outcomes(ds)
    assert cons["source"] == "sim-v0 verdicts" and cons["quorums"] == summary["quorums_with_result"]
    assert cons["share_full"] == pytest.approx(summary["full_agreement"])
    # (its own envelopes relayed back make the observer look like a visitor in a v0 file)
    assert M.visitor_shares(ds)["visitors"] in (summary["nodes"] - 1, summary["nodes"])
    other = load_dataset(os.path.join(sim_dir, "network.jsonl"), observer="2")
    assert other.meta["source"]["observer"] == "2" and other.node != ds.node


def test_simulator_out_dir_holds_observer_datasets_in_schema_1(sim_dir):
    """`rakis sim --out DIR` writes each observer's own dataset (rakis-dataset/1, docs/dataset.md);
    the network-wide rakis-dataset/0 ledger only with --network-log. The directory alone is
    ambiguous: the reader says which files to name."""
    ds = load_dataset(os.path.join(sim_dir, "observer-0.jsonl"))
    assert ds.meta["schema"] == "rakis-dataset/1" and ds.meta["runtime"] == "sim" and "source" not in ds.meta
    assert ds.of("packet") and ds.of("published")
    with pytest.raises(ValueError, match="observer-0.jsonl .*observer-1.jsonl"):
        load_dataset(sim_dir)
