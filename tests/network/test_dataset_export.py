"""Three tabs (each its own node with the real models, on the local relays) run one quorum request;
each tab's dataset is exported (window.rakis.exportDataset(), and once through the download button)
and `rakis analyze` builds the report from the three files. The figures must show what happened:
the request with every published result agreeing, packets first delivered by nostr/mqtt with their
sizes, the two other tabs as peers. Screenshots of the Analytics section and of the rendered report
go to the test's tmp dir and to test-artifacts/dataset-export/ (printed)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rakis_py.analytics import metrics
from rakis_py.analytics.io import load_dataset
from rakis_py.analytics.schema import SCHEMA, problems
from tests.network.conftest import dump, links, submit, wait_final

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
N_TABS = 3
PROMPT = "What is the capital of France?"
REQUEST = dict(quorum=2, agreement=50, maxTokens=12, temperature=0)
CHANNELS = {"nostr", "mqtt"}


@pytest.fixture(scope="module")
def tabs(network):
    tabs, timing = network.open_nodes(N_TABS)
    print("\n" + timing + ": " + "; ".join(f"{t.name} {links(t)}" for t in tabs))
    return tabs


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The test's own dir under pytest's tmp path; copied to test-artifacts/ at the end."""
    out = tmp_path_factory.mktemp("dataset-export")
    yield out
    keep = ROOT / "test-artifacts" / "dataset-export"
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(out, keep)
    print(f"\nartifacts: {out}\n       and {keep}")


def download(tab, out_dir: Path) -> Path:
    with tab.page.expect_download() as d:
        tab.page.click("#dataset-download")
    path = out_dir / d.value.suggested_filename
    d.value.save_as(path)
    return path


def test_three_tabs_export_datasets_and_the_report_shows_the_run(network, tabs, artifacts):
    rid = submit(tabs[0], prompt=PROMPT, timeMs=40_000, **REQUEST)
    views = {t.name: wait_final(t, rid, timeout_s=160) for t in tabs}
    for name, v in views.items():
        assert v and v["status"] == "completed", f"{name} not completed: {dump(v)}"
    for tab in tabs:
        # The last published results may still be on their way: wait until each tab holds them.
        tab.page.wait_for_function("id => window.rakis.analytics().quorums >= 1", arg=rid, timeout=30_000)
        tab.js("window.rakis.flushed()")

    for tab in tabs:
        a = tab.js("window.rakis.analytics()")
        print(f"\n{tab.name}: {a['stored']} records kept, {a['dataset']['appended']} appended in "
              f"{a['dataset']['flushes']} IndexedDB transactions, {a['dataset']['errors']} errors")
        assert a["dataset"]["errors"] == 0 and a["dataset"]["flushes"] < a["dataset"]["appended"]
    # Export: the download button on the first tab, window.rakis.exportDataset() on the others.
    paths = [download(tabs[0], artifacts)]
    for tab in tabs[1:]:
        out = tab.js("window.rakis.exportDataset()")
        paths.append(artifacts / out["filename"])
        paths[-1].write_text(out["text"])
    for tab, path in zip(tabs, paths):
        assert path.name.startswith(f"rakis-dataset-{tab.synthient_id[:8]}-") and path.suffix == ".jsonl"
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        meta, records = lines[0], lines[1:]
        assert meta["schema"] == SCHEMA and meta["node"] == tab.synthient_id and meta["runtime"] == "browser"
        bad = [(r, problems(r)) for r in records if problems(r)]
        assert not bad, dump(bad[:5])
        others = {t.synthient_id for t in tabs if t is not tab}
        accepted = [r for r in records if r["kind"] == "packet" and r["outcome"] == "accepted"]
        assert accepted and all(r["channel"] in CHANNELS and r["size"] > 0 for r in accepted), dump(accepted[:5])
        assert {r["from"] for r in accepted} == others
        assert {r["synthientId"] for r in records if r["kind"] == "peer"} == others
        assert any(r["kind"] == "consensus" and r["requestId"] == rid and r["success"] for r in records)
        assert any(r["kind"] == "worker" and r.get("tokensPerSecond") for r in records), \
            f"{tab.name}: no tokens/s sample (did it infer?)"

    # The report from the three files.
    report_dir = artifacts / "report"
    run = subprocess.run([sys.executable, "-m", "rakis_py", "analyze", *map(str, paths), "--out", str(report_dir)],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = {f["figure"]: f["value"] for f in json.loads((report_dir / "figures.json").read_text())}
    print("\nheadline figures (first tab):\n" + "\n".join(f"  {k}: {v}" for k, v in figures.items()))
    assert figures["nodes heard from"] == N_TABS - 1
    assert figures["quorums counted (≥2 published results)"] == 1
    assert figures["full (100%) agreement (%)"] == 1.0
    assert figures["requests seen by one observer only (%)"] == 0
    for path in paths:
        ds = load_dataset(str(path))
        outcomes = metrics.consensus_outcomes(ds)
        assert (outcomes["quorums"], outcomes["full"], outcomes["own_outcomes"]) == (1, 1, {"success": 1}), dump(outcomes)
        mix = metrics.channel_mix(ds)
        assert set(mix["overall"]) <= CHANNELS and sum(mix["overall"].values()) > 0, dump(mix)
        assert metrics.tokens_per_second(ds)["mean_tps"] > 0
    html = (report_dir / "report.html").read_text()
    assert html.count("<section id='chart-") == 15

    # Screenshots: the first tab's Analytics section (charts redrawn with the run) and the report.
    page = tabs[0].page
    page.wait_for_function("document.getElementById('analytics-summary').textContent.includes('1 of 1 quorums')",
                           timeout=20_000)
    page.wait_for_timeout(300)
    page.locator("#analytics").screenshot(path=str(artifacts / "analytics-tab.png"))
    context = network.browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        report = context.new_page()
        report.goto((report_dir / "report.html").as_uri())
        report.screenshot(path=str(artifacts / "report-top.png"))
        report.screenshot(path=str(artifacts / "report-full.png"), full_page=True)
        report.locator("#chart-11").screenshot(path=str(artifacts / "report-chart-11.png"))
        # Every chart drew an image, but chart 7 (chain identities: tabs link no wallet).
        blank = report.evaluate("[...document.querySelectorAll(\"section[id^='chart-']\")]"
                                ".filter(s => !s.querySelector('img')).map(s => s.id)")
        assert blank == ["chart-7"], f"charts without an image: {blank}"
    finally:
        context.close()
    assert (artifacts / "analytics-tab.png").stat().st_size > 10_000
    assert network.offsite == []
