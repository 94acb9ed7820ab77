"""One tab (follower mode: no models, so it boots in seconds) records its dataset: exportDataset()
and the download button give rakis-dataset/1 JSON Lines, the Analytics section draws its six charts,
the records survive a reload, and the raw records' age limit prunes them while compact ones stay."""
import json

import pytest

from rakis_py.analytics.schema import SCHEMA, problems
from tests.browser.test_node_page import unlock, wait_ready

pytestmark = pytest.mark.browser

PASSWORD = "dataset page"
FOLLOWER = "?llmWorkers=0&embeddingWorkers=0"


def exported(page) -> tuple[dict, list[dict], dict]:
    out = page.evaluate("window.rakis.exportDataset()")
    lines = [json.loads(x) for x in out["text"].splitlines()]
    assert out["records"] == len(lines) - 1 and out["bytes"] >= len(out["text"])
    return lines[0], lines[1:], out


def test_tab_records_exports_and_keeps_its_dataset(fresh_context, node_url, tmp_path):
    page = fresh_context.new_page()
    page.goto(node_url + FOLLOWER)
    unlock(page, PASSWORD)
    wait_ready(page)
    me = page.evaluate("window.rakis.status().synthientId")
    rid = page.evaluate("window.rakis.submit({prompt: 'Name a colour.', quorum: 1, timeMs: 60000, maxTokens: 8})")
    page.wait_for_function("window.rakis.analytics().records >= 3")

    meta, records, out = exported(page)
    assert meta["kind"] == "meta" and meta["schema"] == SCHEMA and meta["runtime"] == "browser"
    assert meta["node"] == me and meta["retention"]["max_records"] > meta["retention"]["max_packets"]
    assert out["filename"].startswith(f"rakis-dataset-{me[:8]}-") and out["filename"].endswith(".jsonl")
    assert all(not problems(r) for r in records), [problems(r) for r in records if problems(r)]
    sent = [r for r in records if r["kind"] == "sent"]
    assert {"peerStatusUpdate", "p2pInferenceRequest"} <= {r["type"] for r in sent}, sent
    assert all(r["size"] > 50 for r in sent)
    assert any(r["kind"] == "request" and r["requestId"] == rid and r["state"] == "requested" for r in records)
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)

    # The Analytics section: six charts (uPlot canvases) and the totals.
    page.wait_for_function("document.querySelectorAll('#charts figure.chart canvas').length >= 6", timeout=20_000)
    assert page.locator("#charts figure.chart").count() == 6
    page.wait_for_function("document.getElementById('analytics-summary').textContent.includes('records kept')")

    # The download button saves the same JSON Lines under the documented name.
    with page.expect_download() as d:
        page.click("#dataset-download")
    download = d.value
    assert download.suggested_filename.startswith(f"rakis-dataset-{me[:8]}-")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["node"] == me and len(lines) >= len(records) + 1

    # Reload: the records come back (and more are added); meta keeps when recording started.
    page.evaluate("window.rakis.flushed()")
    page.reload()
    unlock(page, PASSWORD)
    wait_ready(page)
    page.evaluate("window.rakis.flushed()")
    meta2, records2, _ = exported(page)
    assert meta2["started"] == meta["started"]
    keys = {json.dumps(r, sort_keys=True) for r in records2}
    assert all(json.dumps(r, sort_keys=True) in keys for r in records), "records lost in the reload"
    assert page.evaluate("window.rakis.analytics().records") >= len(records)

    # Retention: raw records older than 1 ms are pruned at the next flush, compact records stay.
    page.evaluate("localStorage.setItem('rakis.retention', JSON.stringify({maxPacketAgeMs: 1}))")
    page.reload()
    unlock(page, PASSWORD)
    wait_ready(page)
    page.wait_for_timeout(200)
    page.evaluate("window.rakis.flushed()")
    meta3, records3, _ = exported(page)
    assert meta3["retention"]["max_packet_age_ms"] == 1
    first_session = {json.dumps(r, sort_keys=True) for r in sent}
    assert not first_session & {json.dumps(r, sort_keys=True) for r in records3 if r["kind"] == "sent"}
    assert any(r["kind"] == "request" and r["requestId"] == rid for r in records3)
    assert fresh_context.offsite == []
