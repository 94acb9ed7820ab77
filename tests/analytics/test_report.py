"""The HTML report: every chart section, images where data exists, notes where it does not; the CLI."""

from __future__ import annotations

import os
import re

import pytest

pytest.importorskip("matplotlib")

from rakis_py.analytics import cli  # noqa: E402
from rakis_py.analytics.io import Dataset, write_jsonl  # noqa: E402
from rakis_py.analytics.report import CHARTS, build_report, chart_section, render_png  # noqa: E402

from .golden import build_a, build_b  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "test-artifacts", "analytics")


def _sections(html: str) -> dict[int, str]:
    parts = re.split(r"<section id='chart-(\d+)'>", html)
    return {int(n): body for n, body in zip(parts[1::2], parts[2::2])}


@pytest.fixture(scope="module")
def two_observer_sections():
    a, b = build_a(), build_b()
    return [a, b], [chart_section(chart, [a, b]) for chart in CHARTS]


@pytest.fixture(scope="module")
def two_observer_html(two_observer_sections):
    datasets, sections = two_observer_sections
    return build_report(datasets, sections=sections)


def test_report_has_all_fifteen_charts_with_images_and_definitions(two_observer_html):
    html = two_observer_html
    sections = _sections(html)
    assert sorted(sections) == list(range(1, 16))
    for n, body in sections.items():
        assert "data:image/png;base64," in body, (n, body[:300])
        assert "<pre>" in body and len(body.split("<pre>")[1]) > 80        # the definition text
    assert "Headline figures" in html and "25.0%" in html               # share of requesters
    assert "http://" not in html and "https://" not in html               # self-contained


def test_absent_data_is_said_not_failed():
    empty = Dataset({"kind": "meta", "schema": "rakis-dataset/1", "node": "me"})
    html = build_report([empty])
    sections = _sections(html)
    assert sorted(sections) == list(range(1, 16))
    for n, body in sections.items():
        assert "data:image/png" not in body
        assert "No data for this chart" in body or "Needs two datasets" in body, (n, body[:200])
    assert "Could not draw" not in html
    assert "Needs two datasets" in sections[3]


def test_one_dataset_skips_only_the_two_observer_chart():
    a = build_a()
    assert "Needs two datasets" in (chart_section(CHARTS[2], [a])["note"] or "")
    assert all(c.has_data(c.compute([a])) for c in CHARTS if not c.needs_two)
    png = render_png(CHARTS[3], CHARTS[3].compute([a]), [a])       # chart 4 with one observer
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_pngs_are_saved_for_a_look(two_observer_sections):
    os.makedirs(ARTIFACTS, exist_ok=True)
    for s in two_observer_sections[1]:
        assert s["png"] is not None and s["png"][:8] == b"\x89PNG\r\n\x1a\n" and len(s["png"]) > 5000
        with open(os.path.join(ARTIFACTS, f"chart-{s['number']:02d}.png"), "wb") as f:
            f.write(s["png"])


def test_cli_writes_report_and_figures(tmp_path, capsys):
    a, b = build_b(), build_b()          # B alone: few charts to draw, the wiring is what is tested
    pa, pb = str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")
    for ds, p in ((a, pa), (b, pb)):
        write_jsonl([ds.meta] + [r for recs in ds.kinds.values() for r in recs], p)
    out = str(tmp_path / "report")
    assert cli.main([pa, pb, "--out", out]) == 0
    html = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert len(_sections(html)) == 15 and "results seen by one observer only" in html
    assert "data:image/png" in _sections(html)[3]
    assert os.path.exists(os.path.join(out, "figures.json"))
    assert cli.main([str(tmp_path / "missing.jsonl"), "--out", out]) == 2


def test_report_states_the_four_consensus_definitions(two_observer_html):
    """The consensus figures use the test's four definitions, and the report says what each is:
    in chart 11's text (its definition) and as rows of the headline table."""
    import html as _html
    section = _sections(two_observer_html)[11]
    text = _html.unescape(section.split("<pre>")[1].split("</pre>")[0])
    for definition in ("full agreement: every published result agrees",
                       "majority: more than 50% of the published results agree",
                       "corrected for commit counts: every result agrees among the publishers that used as many\n"
                       "  commits (`submitted` count) as the reference",
                       "corrected for identical commit sets: every result agrees among the publishers whose\n"
                       "  submitted set (`submittedHash`, or v2 `commitSetHash`) is identical to the reference's",
                       "full agreement among the quorums whose publishers all used one commit count"):
        assert definition in text, definition
    headline = _html.unescape(two_observer_html.split("<h2>Headline figures</h2>")[1].split("</table>")[0])
    for row, value in (("full (100%) agreement (%)", "25.0%"), ("majority (>50%) agreement (%)", "62.5%"),
                       ("corrected for commit counts, per publisher (%)", "62.5%"),
                       ("corrected for identical commit sets, per publisher (%)", "87.5%"),
                       ("full agreement, quorums with one commit count (5) (%)", "40.0%"),
                       ("full agreement, quorums with one commit set (3) (%)", "66.7%"),
                       ("AI workers run (peers' reported + own)", "6")):
        assert f"<tr><td>{row}</td><td>{value}</td>" in headline, row
