"""rakis bench: the runner's statistics, the JSON it prints and keeps, and figures that cannot be
measured (null with a reason, never a crash or a made-up number). Fast: fake groups, plus the
real consensus figure once."""
import json
import shutil
import subprocess
import sys
import tomllib

import pytest

from rakis_py.bench import cli, network, runner
from rakis_py.bench.runner import Context, Group, Unavailable, repeat, run_groups, summarize, unavailable

QUIET = dict(log=lambda msg: None)
ROOT = runner.ROOT


def test_summarize_median_min_max_runs_unit():
    assert summarize([3.0, 1.0, 2.0], "ms") == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": 3, "unit": "ms"}
    even = summarize([4, 1, 2, 10], "s", digits=2)
    assert even["median"] == 3.0 and even["min"] == 1 and even["max"] == 10 and even["runs"] == 4
    assert summarize([1.23456], "x", digits=2, note="why")["note"] == "why"
    with pytest.raises(ValueError):
        summarize([], "ms")


def test_repeat_discards_warmups_and_counts_runs():
    values = iter([100.0, 1.0, 5.0, 3.0])   # the first is the warm-up
    fig = repeat(lambda: next(values), runs=3, unit="ms", warmup=1)
    assert fig == {"median": 3.0, "min": 1.0, "max": 5.0, "runs": 3, "unit": "ms"}


def _groups(calls):
    def ok(ctx, wanted):
        calls.append(("ok", sorted(wanted)))
        return {n: summarize([ctx.runs(1, 2)] * ctx.runs(1, 2), "s") for n in wanted}

    def missing(ctx, wanted):
        raise Unavailable("chromium is not installed")

    def broken(ctx, wanted):
        raise ZeroDivisionError("boom")

    def partial(ctx, wanted):
        return {"p1": summarize([1], "s")}

    return (Group("ok", ("a", "b"), ok), Group("missing", ("c",), missing),
            Group("broken", ("d",), broken), Group("partial", ("p1", "p2"), partial))


def test_unmeasurable_figures_are_null_with_a_reason():
    figs = run_groups(_groups([]), Context(quick=True, **QUIET))
    assert list(figs) == ["a", "b", "c", "d", "p1", "p2"]
    assert figs["c"] == unavailable("chromium is not installed") == {"value": None, "reason": "chromium is not installed"}
    assert figs["d"]["value"] is None and "ZeroDivisionError: boom" in figs["d"]["reason"]
    assert figs["p2"]["value"] is None and figs["p2"]["reason"]
    assert runner.is_measured(figs["a"]) and runner.is_measured(figs["p1"])
    assert not runner.is_measured(figs["c"])


def test_only_runs_the_groups_of_the_named_figures():
    calls = []
    figs = run_groups(_groups(calls), Context(quick=False, **QUIET), only=["b"])
    assert list(figs) == ["b"] and calls == [("ok", ["b"])]
    assert figs["b"]["runs"] == 2   # full mode


@pytest.fixture
def fake_cli(monkeypatch):
    groups = _groups([])
    monkeypatch.setattr(cli, "GROUPS", groups)
    monkeypatch.setattr(cli, "FIGURES", tuple(n for g in groups for n in g.figures))
    monkeypatch.setattr(cli.machine, "info", lambda: {"cores": 2, "memory_gb": 1.0, "load_avg_1m": 0.0,
                                                      "python": "3", "node": None, "chromium": None})


def test_json_prints_exactly_one_object_and_writes_it(fake_cli, capsys, tmp_path):
    out = tmp_path / "latest.json"
    assert cli.main(["--quick", "--json", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("\n") == 1
    result = json.loads(stdout)
    assert set(result) >= {"figures", "machine", "mode"} and result["mode"] == "quick"
    for name, fig in result["figures"].items():
        assert set(fig) in ({"median", "min", "max", "runs", "unit"}, {"value", "reason"}), name
    assert result["figures"]["c"] == {"value": None, "reason": "chromium is not installed"}
    assert json.loads(out.read_text()) == result


def test_table_and_unknown_names(fake_cli, capsys, tmp_path):
    assert cli.main(["--only", "a,c", "--out", str(tmp_path / "r.json")]) == 0
    text = capsys.readouterr().out
    assert "a " in text and "chromium is not installed" in text and "(full)" in text
    assert cli.main(["--only", "nope", "--out", str(tmp_path / "r.json")]) == 2
    assert "unknown figure" in capsys.readouterr().err


def test_every_headline_figure_is_known():
    headline = {"ready_cold_s", "ready_warm_s", "llm_tokens_per_s_wasm", "llm_tokens_per_s_ratio_vs_reference",
             "embed_ms", "mesh_s_2", "mesh_s_4", "mesh_s_8", "consensus_overhead_s", "agreement_4tabs", "bytes_per_token",
             "tokens_per_packet", "packets_per_request_n4", "sim_st1_v1_full_agreement",
             "sim_st1_full_agreement", "sim_events_per_s", "consensus_ms_n256"}
    assert headline <= set(cli.FIGURES)
    assert len(cli.FIGURES) == len(set(cli.FIGURES))


def test_the_build_and_ready_split_figures_are_known():
    new = {"dist_mb", "build_warm_s", "build_cold_s",
           *(f"ready_{k}_{p}_s" for k in ("cold", "warm") for p in ("pyodide", "rakis_py", "llm_model", "embedding_model"))}
    assert new <= set(cli.FIGURES)
    # cheap groups first: the build group before the browser ones
    assert cli.FIGURES.index("build_warm_s") < cli.FIGURES.index("ready_cold_s")


def test_list_prints_every_figure(capsys):
    assert cli.main(["--list"]) == 0
    assert tuple(capsys.readouterr().out.split()) == cli.FIGURES


HELP_COMMANDS = {
    "python -m rakis_py bench --help": ["-m", "rakis_py", "bench", "--help"],
    "python -m rakis_py.bench --help": ["-m", "rakis_py.bench", "--help"],
    # What the `rakis` console script of pyproject.toml runs (checked below): sys.exit(main()).
    "rakis bench --help": ["-c", "import sys; sys.argv[0] = 'rakis'; from rakis_py.__main__ import main; "
                                 "sys.exit(main())", "bench", "--help"],
}


@pytest.mark.parametrize("name", HELP_COMMANDS)
def test_help(name):
    r = subprocess.run([sys.executable, *HELP_COMMANDS[name]], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: rakis bench") and "--quick" in r.stdout and "--only" in r.stdout
    assert "partial.json" in r.stdout
    for fig in ("dist_mb", "build_warm_s", "ready_cold_pyodide_s", "consensus_overhead_s", "packets_per_request_n4"):
        assert fig in r.stdout, fig


def test_the_rakis_console_script_is_the_dispatcher():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["rakis"] == "rakis_py.__main__:main"
    if shutil.which("rakis"):   # installed (pip install .): the real command too
        r = subprocess.run(["rakis", "bench", "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.startswith("usage: rakis bench")


def test_networked_page_detection_ignores_comments():
    assert not network.node_networked("// Next: await transports.add(new NetworkTransport(x));\n")
    assert network.node_networked("  const net = new NetworkTransport(createTransport, {});\n")


def test_real_consensus_figure(capsys, tmp_path):
    assert cli.main(["--quick", "--json", "--only", "consensus_ms_n256", "--out", str(tmp_path / "r.json")]) == 0
    fig = json.loads(capsys.readouterr().out)["figures"]["consensus_ms_n256"]
    assert fig["unit"] == "ms" and fig["runs"] == 10
    assert 0 < fig["min"] <= fig["median"] <= fig["max"]


def test_markdown_of_a_saved_result(fake_cli, capsys, tmp_path):
    out = tmp_path / "latest.json"
    cli.main(["--json", "--only", "a,c", "--out", str(out)])
    capsys.readouterr()
    assert cli.main(["--markdown", str(out)]) == 0
    md = capsys.readouterr().out
    assert "| `a` | 2 | 2 | 2 | 2 | s |" in md
    assert "| `c` | – |" in md and "chromium is not installed" in md


def test_packets_per_request_grow_with_nodes_and_v2_sends_fewer(capsys, tmp_path):
    names = ["sim_packets_per_request_v1_n8", "sim_packets_per_request_v2_n4", "sim_packets_per_request_v2_n8"]
    assert cli.main(["--quick", "--json", "--only", ",".join(names), "--out", str(tmp_path / "r.json")]) == 0
    fig = json.loads(capsys.readouterr().out)["figures"]
    v1_8, v2_4, v2_8 = (fig[n]["median"] for n in names)
    assert 0 < v2_4 < v2_8 < v1_8, fig


def test_only_never_overwrites_latest_json(fake_cli, monkeypatch, capsys, tmp_path):
    latest, partial = tmp_path / "latest.json", tmp_path / "partial.json"
    monkeypatch.setattr(cli, "DEFAULT_OUT", latest)
    monkeypatch.setattr(cli, "PARTIAL_OUT", partial)
    assert cli.main(["--quick", "--json"]) == 0                      # a complete run: latest.json
    complete = json.loads(latest.read_text())
    assert complete["only"] is None and set(complete["figures"]) == set(cli.FIGURES)
    assert cli.main(["--quick", "--json", "--only", "b"]) == 0        # a partial one: partial.json
    capsys.readouterr()
    assert json.loads(latest.read_text()) == complete
    part = json.loads(partial.read_text())
    assert part["only"] == ["b"] and list(part["figures"]) == ["b"]
    assert cli.main(["--only", "a", "--out", str(tmp_path / "mine.json")]) == 0   # --out still wins
    assert list(json.loads((tmp_path / "mine.json").read_text())["figures"]) == ["a"]
    assert json.loads(partial.read_text()) == part
