"""The simulator driving the real protocol core (rakis_py.protocol.node.Node)."""

from __future__ import annotations

import json

import pytest

from rakis_py.sim import cli, scenarios
from rakis_py.sim.simulation import Simulation


WALL = ("wall_seconds", "events_per_s")


def test_tiny_v2_every_honest_node_agrees():
    sim = Simulation(scenarios.tiny().with_protocol(2), seed=1, strict=True)
    s = sim.run()
    assert s["requests"] >= 3 and s["quorums"] == s["requests"]
    assert s["full_agreement"] == 1.0, s["failed_by_phase"]
    # every node that committed computed the same (winner, joint hash) for every request
    for rec in sim.metrics.requests:
        assert len(rec.commits) >= 3
        assert set(rec.commits) <= set(rec.computed)
        assert len(set(rec.computed.values())) == 1
    assert s["packets_by_type"]["inferenceReveal"] <= s["packets_by_type"]["inferenceCommit"]


def test_tiny_v1_runs_and_shows_v1_weaknesses():
    s = Simulation(scenarios.tiny().with_protocol(1), seed=1, strict=True).run()
    assert s["requests"] >= 3 and s["quorums"] >= 3
    assert s["packets_by_type"].get("inferenceRevealRequest", 0) > s["requests"]   # one per node, not per quorum
    assert s["tokens"] > 0 and s["bytes_per_token"] > 0
    # 15% non-deterministic embedding runs break v1's exact-match check on some quorums
    assert s["full_agreement"] < 1.0


def test_real_core_run_is_deterministic_and_conserves_copies():
    sc = scenarios.small().with_size(nodes=15, duration_s=150)
    a = Simulation(sc, seed=9).run()
    b = Simulation(sc, seed=9).run()
    strip = lambda s: json.dumps({k: v for k, v in s.items() if k not in WALL}, sort_keys=True)  # noqa: E731
    assert strip(a) == strip(b)
    assert sum(a["links"]["outcomes"].values()) == a["links"]["copies"] > 0
    # every packet the real core sent has one fate (delivered, lost or dropped with a reason)
    led = a["links"]
    assert led["pending"] == 0 and led["packets"] == a["packets"] == sum(led["packet_fates"].values())
    assert led["packet_fates"]["delivered"] > 0


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_scenario_runs_v2_unless_v1_is_asked(name):
    """The issue: `--scenario st1 --protocol v1` is the calibration, the default protocol is v2."""
    assert scenarios.get(name).load.frame.protocol == 2
    parse = cli.build_parser().parse_args
    assert cli.configure(parse(["--scenario", name])).load.frame.protocol == 2
    assert cli.configure(parse(["--scenario", name, "--protocol", "v1"])).load.frame.protocol == 1
    assert cli.configure(parse(["--scenario", name, "--protocol", "v2"])).load.frame.protocol == 2


def test_cli_json_prints_one_summary_object(capsys, tmp_path):
    rc = cli.main(["--scenario", "tiny", "--protocol", "v2", "--seed", "2", "--json", "--out", str(tmp_path),
                   "--no-report", "--network-log"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    s = json.loads(out[0])
    for k in ("nodes", "requests", "quorums", "full_agreement", "majority_agreement", "failed_by_phase",
              "packets_per_request", "bytes_per_token", "tokens_per_packet", "sim_seconds",
              "wall_seconds", "events_per_s"):
        assert k in s
    # --network-log: the per-copy ledger, one line per copy (lost and dropped ones included)
    lines = [json.loads(x) for x in (tmp_path / "network.jsonl").read_text().splitlines()]
    assert {x["kind"] for x in lines} == {"run", "packet", "quorum", "summary"}
    assert all(x["schema"] == "rakis-dataset/0" for x in lines)
    assert sum(1 for x in lines if x["kind"] == "packet") == s["links"]["copies"]
    quorums = [json.loads(x) for x in (tmp_path / "quorums.jsonl").read_text().splitlines()]
    assert len(quorums) == s["requests"] and sum(q["quorum"] for q in quorums) == s["quorums"]
    assert (tmp_path / "sim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_out_writes_observer_datasets_that_rakis_analyze_reads(tmp_path):
    """--out records two nodes through rakis_py.analytics' DatasetRecorder (the browser's schema)
    and `rakis analyze` builds the stability report, two-observer charts included, from them."""
    from rakis_py.analytics import metrics as M
    from rakis_py.analytics.cli import main as analyze
    from rakis_py.analytics.io import load_dataset
    from rakis_py.analytics.schema import SCHEMA, problems

    out = tmp_path / "run"
    assert cli.main(["--scenario", "tiny", "--protocol", "v2", "--seed", "1", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["observer_datasets"] == ["observer-0.jsonl", "observer-1.jsonl"]
    assert (out / s["report"]).exists()
    ids = set()
    for name in s["observer_datasets"]:
        recs = [json.loads(x) for x in (out / name).read_text().splitlines()]
        assert recs[0]["kind"] == "meta" and recs[0]["schema"] == SCHEMA and recs[0]["runtime"] == "sim"
        assert [p for r in recs for p in problems(r)] == []
        ids.add(recs[0]["node"])
        kinds = {r["kind"] for r in recs}
        assert {"packet", "sent", "commit", "reveal", "consensus", "published", "request"} <= kinds
        # an observer's view of the run agrees with the network-wide book
        ds = load_dataset(str(out / name))
        assert M.consensus_outcomes(ds)["quorums"] == s["quorums"]
        assert len(ds.of("consensus")) == s["quorums"]      # tiny: every node takes part in every quorum
    assert len(ids) == 2
    assert [o["share_full"] for o in s["observer_outcomes"]] == [1.0, 1.0]
    rep = tmp_path / "report"
    assert analyze([str(out / "observer-0.jsonl"), str(out / "observer-1.jsonl"), "--out", str(rep)]) == 0
    html = (rep / "report.html").read_text()
    assert html.count("<img") >= 8 and "Needs two datasets" not in html


def test_sweep_reports_rows_and_breaking_points(capsys):
    rc = cli.main(["sweep", "--scenario", "tiny", "--nodes", "4", "5", "--protocol", "v1", "v2",
                   "--duration", "60", "--seed", "1", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["protocol"], r["nodes"]) for r in out["rows"]] == [("v1", 4), ("v1", 5), ("v2", 4), ("v2", 5)]
    assert {b["protocol"] for b in out["breaking_points"]} == {"v1", "v2"}
    for b in out["breaking_points"]:
        rows = [r for r in out["rows"] if r["protocol"] == b["protocol"]]
        below = [r["nodes"] for r in rows if r["full_agreement"] is not None and r["full_agreement"] < 0.95]
        assert b["breaks_at_nodes"] == (below[0] if below else None)


def test_out_files_are_a_function_of_the_seed(tmp_path):
    """Determinism of everything --out writes from the run (not the wall-clock fields)."""
    sc = scenarios.small().with_size(nodes=12, duration_s=120)
    files = ("observer-0.jsonl", "observer-1.jsonl", "quorums.jsonl")
    runs = []
    for k, seed in enumerate((4, 4, 5)):
        d = tmp_path / str(k)
        Simulation(sc, seed=seed, out_dir=str(d)).run()
        runs.append([(d / f).read_bytes() for f in files])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert all(len(b) > 1000 for b in runs[0][:2])


def test_sweep_out_writes_the_chart_and_stops_a_broken_series(tmp_path, capsys):
    rc = cli.main(["sweep", "--scenario", "tiny", "--nodes", "4", "5", "6", "--protocol", "v1", "v2",
                   "--duration", "60", "--seed", "1", "--threshold", "1.01", "--stop-after", "2",
                   "--json", "--out", str(tmp_path)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["rows"] == printed["rows"]
    # a threshold above 100% puts every point below it: each series stops after two sizes
    assert [(r["protocol"], r["nodes"]) for r in saved["rows"]] == [("v1", 4), ("v1", 5), ("v2", 4), ("v2", 5)]
    for b in saved["breaking_points"]:
        assert b["breaks_at_nodes"] == 4 and isinstance(b["failed_by_phase"], dict)
    assert (tmp_path / "agreement_vs_nodes.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_merges_earlier_parts(tmp_path, capsys):
    """A grid run in two parts: the second merges the first's rows (a point run again replaces
    the earlier row), the breaking points cover both, and another scenario's file is refused."""
    first = tmp_path / "a"
    cli.main(["sweep", "--scenario", "tiny", "--nodes", "4", "5", "--protocol", "v2", "--duration", "60",
              "--seed", "1", "--threshold", "1.01", "--json", "--out", str(first)])
    capsys.readouterr()
    part = json.loads((first / "sweep.json").read_text())
    part["rows"][1]["full_agreement"] = 0.5                  # marks the row the new run must replace
    (first / "sweep.json").write_text(json.dumps(part))
    rc = cli.main(["sweep", "--scenario", "tiny", "--nodes", "3", "5", "--protocol", "v2", "--duration", "60",
                   "--seed", "1", "--threshold", "1.01", "--json", "--merge", str(first / "sweep.json")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["nodes"] for r in out["rows"]] == [3, 4, 5]
    assert out["rows"][2]["full_agreement"] != 0.5
    assert out["rows"][1] == part["rows"][0]
    assert [b["breaks_at_nodes"] for b in out["breaking_points"]] == [3]
    # --merge alone (no sizes to run): the parts combined, nothing run
    assert cli.main(["sweep", "--scenario", "tiny", "--protocol", "v2", "--json", "--merge",
                     str(first / "sweep.json")]) == 0
    only = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["nodes"] for r in only["rows"]] == [4, 5] and only["rows"][1]["full_agreement"] == 0.5
    assert (only["duration_s"], only["seed"]) == (60, 1)
    with pytest.raises(SystemExit, match="not 'small'"):
        cli.main(["sweep", "--scenario", "small", "--nodes", "3", "--merge", str(first / "sweep.json")])


def _sent_reveals(protocol: int):
    """Run tiny under the given rules; every inferenceReveal envelope sent, with its counted size."""
    sim = Simulation(scenarios.tiny().with_protocol(protocol), seed=1, strict=True)
    sent, on_send = [], sim.metrics.on_send

    def spy(i, env, size):
        if env["packet"]["type"] == "inferenceReveal":
            sent.append((env, size))
        return on_send(i, env, size)
    sim.metrics.on_send = spy
    sim.run()
    assert sent
    return sent


def test_v1_reveals_have_v1_sizes_and_match_a_real_encoded_reveal():
    """Under v1 rules the embedding stand-in is nomic-embed-text-v1.5-shaped (768 floats, 96-byte
    binary embedding), so a reveal's counted size is the size of a real v1 reveal on the wire."""
    import random

    from rakis_py.protocol import builders as B
    from rakis_py.protocol.identity import Identity
    from rakis_py.protocol.packets import encode_envelope

    ident = Identity.from_private_key(bytes(range(32)))
    for env, size in _sent_reveals(1)[:3]:
        p = env["packet"]
        assert len(p["embedding"]) == 768 and len(p["bEmbedding"]) == 96
        floats = [p["embedding"][str(k)] for k in range(768)]
        bits = bytes(p["bEmbedding"][str(k)] for k in range(96))
        args = (p["requestedSynthientId"], p["requestId"], p["inferenceId"], p["output"])
        # the same reveal, built and signed (real Ed25519) by the protocol package: same bytes
        same = B.inference_reveal(*args, bits, floats, p["createdAt"], v1_typed_arrays=True)
        assert len(encode_envelope(ident.envelope(same))) == size
        # a real-looking one: a unit-norm 768-d float vector and random bits: within 2%
        rng = random.Random(size)
        vec = [rng.gauss(0.0, 1.0) for _ in range(768)]
        norm = sum(v * v for v in vec) ** 0.5
        real = B.inference_reveal(*args, rng.randbytes(96), [v / norm for v in vec], p["createdAt"],
                                  v1_typed_arrays=True)
        real_size = len(encode_envelope(ident.envelope(real)))
        assert abs(size - real_size) <= 0.02 * real_size, (size, real_size)


def test_v2_reveals_carry_a_384_bit_embedding_and_no_floats():
    for env, _size in _sent_reveals(2):
        assert "embedding" not in env["packet"] and len(env["packet"]["bEmbedding"]) == 48
