"""One browser tab as a node: boot, identity, a quorum-1 request through the real models, reload
(identity, results and stored state survive), a wrong password, and a worker that cannot load."""
import time

import pytest

from rakis_py.protocol.events import RequestSubmitted

pytestmark = pytest.mark.browser

BOOT_MS = 180_000          # Pyodide + rakis_py + both models on 2 shared cores
PASSWORD = "correct horse"


def unlock(page, password, overwrite=False):
    page.fill("#identity-password", password)
    if overwrite:
        page.check("#identity-overwrite")
    page.click("#identity-submit")


def wait_ready(page):
    page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#errors")


def wait_request(page, rid, timeout_s=90):
    """Poll window.rakis.request until the request is final (wait_for_function does not await)."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = page.evaluate("id => window.rakis.request(id)", rid)
        if view and view["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return view
        page.wait_for_timeout(500)


def test_tab_runs_a_request_and_survives_reload(fresh_context, node_url):
    page = fresh_context.new_page()
    page.goto(node_url)
    unlock(page, PASSWORD)
    wait_ready(page)
    status = page.evaluate("window.rakis.status()")
    me = status["synthientId"]
    assert len(me) == 64 and status["crypto"] in ("webcrypto", "cryptography")
    assert status["channels"] == []              # channels=none: no transport at all (no loopback echo)
    page.wait_for_function("window.rakis.status().workers.length === 2 && "
                           "window.rakis.status().workers.every(w => w.state === 'ready')", timeout=BOOT_MS)
    assert {w["backend"] for w in page.evaluate("window.rakis.status().workers")} == {"wasm"}
    # Each worker reports the sha256 of the model bytes it loaded: the build's pinned files.
    manifest = page.evaluate("fetch('models/manifest.json').then(r => r.json())")
    hashes = {w["kind"]: w["sha256"] for w in page.evaluate("window.rakis.status().workers")}
    assert hashes == {"embedding": manifest["models"]["embedding"]["sha256"],
                      "llm": manifest["models"]["llm"]["sha256"]}

    rid = page.evaluate("window.rakis.submit({prompt: 'What is the capital of France?', quorum: 1, "
                        "agreement: 50, timeMs: 20000, maxTokens: 16, temperature: 0})")
    view = wait_request(page, rid)
    assert view["status"] == "completed", view
    output = view["result"]["validSingleInference"]["output"]
    assert output and view["result"]["validSingleInference"]["fromSynthientId"] == me
    assert view["consensus"]["success"] is True
    card = page.locator(f'[data-request-id="{rid}"]')
    card.locator(".result").wait_for()
    assert output in card.inner_text()
    assert card.locator(".timeline li.done").count() == 6

    # The form starts from the core's submit defaults (node_host.request_defaults), not its own.
    core = RequestSubmitted("p", ("m",))
    assert page.input_value("#request-form [name=maxTokens]") == str(core.max_tokens)
    assert page.input_value("#request-form [name=time]") == str(core.max_time_ms // 1000)
    assert page.input_value("#request-form [name=agreement]") == str(round(core.sec_percentage * 100))

    # The form: a max-commits below the quorum is refused with the reason, nothing is sent.
    cards = page.locator("#requests [data-request-id]").count()
    page.fill("#request-form [name=prompt]", "Name a colour.")
    page.fill("#request-form [name=quorum]", "3")
    page.fill("#request-form [name=maxCommits]", "2")
    page.click("#request-form button[type=submit]")
    page.wait_for_function("document.getElementById('errors').textContent.includes('maxCommits')")
    assert "maxCommits (2) must be at least the quorum (3)" in page.inner_text("#errors")
    assert page.locator("#requests [data-request-id]").count() == cards
    page.fill("#request-form [name=quorum]", "1")                  # a valid bound: submitted
    page.click("#request-form button[type=submit]")
    page.wait_for_function(f"document.querySelectorAll('#requests [data-request-id]').length > {cards}")
    # The UI is pushed to, never polls: this request's card (never asked for through
    # window.rakis.request) shows its commit from the views that ride in the node's answers.
    card = page.locator(f'#requests [data-request-id]:not([data-request-id="{rid}"])').first
    card.locator(".counts", has_text="commits 1").wait_for(timeout=120_000)
    assert card.locator(".timeline li.done", has_text="committed").count() == 1

    page.evaluate("window.rakis.flushed()")
    blob = page.evaluate("localStorage.getItem('encSynthientId')")

    # Reload with a wrong password: refused with a clear message, nothing stored is touched.
    page.reload()
    unlock(page, "wrong password")
    page.wait_for_function("document.getElementById('identity-message').textContent.length > 0")
    assert "Wrong password" in page.inner_text("#identity-message")
    assert page.evaluate("localStorage.getItem('encSynthientId')") == blob
    assert page.evaluate("document.body.dataset.ready") is None

    # The right password: same identity, the request and its consensus result come back.
    unlock(page, PASSWORD)
    wait_ready(page)
    assert page.evaluate("window.rakis.status().synthientId") == me
    assert page.evaluate("window.rakis.status().restored") is True
    again = page.evaluate("id => window.rakis.request(id)", rid)
    assert again["status"] == "completed"
    assert again["result"]["validSingleInference"]["output"] == output
    page.locator(f'[data-request-id="{rid}"] .result').wait_for()
    assert fresh_context.offsite == []


def test_worker_that_cannot_load_leaves_a_follower(fresh_context, node_url):
    """A failed worker leaves a node that still takes requests and survives a reload; the worker
    panel scales workers up and down and switches to follower mode, kept across visits."""
    page = fresh_context.new_page()
    page.goto(node_url + "?llm=NoSuchModel&embeddingWorkers=0")
    unlock(page, PASSWORD)
    wait_ready(page)
    page.wait_for_function("window.rakis.status().workers.some(w => w.state === 'failed')", timeout=60_000)
    worker = page.evaluate("window.rakis.status().workers")[0]
    assert worker["kind"] == "llm" and worker["state"] == "failed" and "NoSuchModel" in worker["error"]
    row = page.locator(f'[data-worker-id="{worker["workerId"]}"]')
    assert "failed" in row.inner_text() and "NoSuchModel" in row.inner_text()
    # The node keeps running: it still takes requests (nobody can infer them here).
    rid = page.evaluate("window.rakis.submit({prompt: 'hi', timeMs: 120000})")
    view = page.evaluate("id => window.rakis.request(id)", rid)
    assert view["requestId"] == rid and view["status"] == "awaiting_commitments"
    armed = page.evaluate("window.rakis.status().timers")
    assert armed >= 4          # the v2 phase timers of the request
    page.evaluate("window.rakis.flushed()")

    # Reload mid-request: the request comes back from IndexedDB and its timers are armed again.
    page.reload()
    unlock(page, PASSWORD)
    wait_ready(page)
    assert page.evaluate("window.rakis.status().restored") is True
    assert page.evaluate("id => window.rakis.request(id)", rid)["status"] == "awaiting_commitments"
    assert page.evaluate("window.rakis.status().timers") == armed
    page.locator(f'[data-request-id="{rid}"]').wait_for()

    # Scale up from the panel, then down again: the node learns of both.
    page.click("#add-embedding")
    page.wait_for_function("window.rakis.status().workers.some(w => w.kind === 'embedding' && "
                           "w.state === 'ready')", timeout=BOOT_MS)
    added = next(w for w in page.evaluate("window.rakis.status().workers") if w["kind"] == "embedding")
    assert added["backend"] == "wasm"
    page.locator(f'[data-worker-id="{added["workerId"]}"] button').click()
    page.wait_for_function("!window.rakis.status().workers.some(w => w.kind === 'embedding')")
    # Kept for the next visit (the failed LLM worker still counts: it is retried on reload).
    assert page.evaluate("JSON.parse(localStorage.getItem('rakis.workers'))") == {"llm": 1, "embedding": 0}

    # "+ LLM worker" adds one (of the page's LLM model, which cannot load here, so it fails too);
    # follower mode stops them all, says so, and is what the next visit starts with.
    page.click("#add-llm")
    page.wait_for_function("window.rakis.status().workers.filter(w => w.kind === 'llm').length === 2")
    assert page.evaluate("JSON.parse(localStorage.getItem('rakis.workers'))") == {"llm": 2, "embedding": 0}
    page.click("#follower")
    page.wait_for_function("window.rakis.status().workers.length === 0")
    assert page.evaluate("JSON.parse(localStorage.getItem('rakis.workers'))") == {"llm": 0, "embedding": 0}
    assert "follower mode" in page.locator("#logs").inner_text()
    page.reload()
    unlock(page, PASSWORD)
    wait_ready(page)
    assert page.evaluate("window.rakis.status().workers") == []


def test_a_model_file_that_is_not_the_pinned_one_is_refused(fresh_context, node_url):
    """The embedding model file is served with one byte changed: the worker hashes the bytes it
    loads, refuses to run them (saying which file and both hashes) and the node is a follower."""
    def tamper(route):
        resp = route.fetch()
        body = bytearray(resp.body())
        body[len(body) // 2] ^= 0xFF
        route.fulfill(response=resp, body=bytes(body))
    fresh_context.route("**/models/all-MiniLM-L6-v2/onnx/model_quantized.onnx", tamper)
    page = fresh_context.new_page()
    page.goto(node_url + "?llmWorkers=0")
    unlock(page, PASSWORD)
    wait_ready(page)
    page.wait_for_function("window.rakis.status().workers.some(w => w.state === 'failed')", timeout=BOOT_MS)
    worker = page.evaluate("window.rakis.status().workers")[0]
    assert worker["kind"] == "embedding" and worker["state"] == "failed", worker
    assert "all-MiniLM-L6-v2/onnx/model_quantized.onnx has sha256" in worker["error"], worker
    assert "refusing to run it" in worker["error"]


def test_python_that_fails_to_load_is_a_visible_error(fresh_context, node_url):
    # loadPackage resolves even when a wheel fails: the page must notice and say so.
    fresh_context.route("**/rakis_py-*.whl", lambda r: r.fulfill(status=404, body="gone"))
    page = fresh_context.new_page()
    page.goto(node_url + "?llmWorkers=0&embeddingWorkers=0")
    page.wait_for_function("document.body.dataset.ready", timeout=BOOT_MS)
    assert page.evaluate("document.body.dataset.ready") == "failed"
    errors = page.inner_text("#errors")
    assert page.locator("#errors").is_visible() and "rakis" in errors.lower()


IDB_PRUNE = """async () => {
  const { Store } = await import("./js/idb.js");
  const store = await Store.open("rakis-py-test-prune", { packetCap: 3, windowMs: 0 });
  await store.clear();
  const put = (i, t) => ({ table: "packets", key: `k${i}`, record: { receivedTime: t, i } });
  await store.applyBatch([put(1, 50), put(2, 10), put(3, 40)]);
  await store.applyBatch([put(4, 20), put(5, 30), { table: "peers", key: "p", record: { a: 1 } }]);
  await store.applyBatch([{ table: "peers", key: "p", record: null }, { table: "quorums", key: "q", record: { s: "x" } }]);
  const all = await store.loadAll();
  let unknown = null;
  try { await store.applyBatch([{ table: "nope", key: "k", record: {} }]); } catch (e) { unknown = e.message; }
  return { kept: all.packets.map((r) => r.i).sort(), peers: all.peers, quorums: all.quorums, tables: Object.keys(all), unknown };
}"""


def test_indexeddb_adapter_batches_deletes_and_caps_packets(fresh_context, node_url):
    page = fresh_context.new_page()
    page.goto(node_url + "?llmWorkers=0&embeddingWorkers=0")
    r = page.evaluate(IDB_PRUNE)
    assert r["kept"] == [1, 3, 5]            # the 3 newest by receivedTime: 50, 40, 30
    assert r["peers"] == [] and r["quorums"] == [{"s": "x"}]
    assert "packets" in r["tables"] and "externalConsensusResults" in r["tables"] and "meta" in r["tables"]
    assert "unknown table" in r["unknown"]
