import math
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rakis_py.protocol.scheduler import (
    DEFAULT_MAX_TOKENS,
    embedding_queue_order,
    pick_inference,
)

NOW = 1_700_000_000_000


def req(request_id, ending_in, models=("gemma",), temperature=0.7, max_tokens=256):
    return {
        "request_id": request_id,
        "ending_at": NOW + ending_in,
        "accepted_models": list(models),
        "temperature": temperature,
        "max_tokens": max_tokens,
    }


@dataclass
class Req:
    request_id: str
    ending_at: int
    accepted_models: list = field(default_factory=lambda: ["gemma"])
    temperature: float = 1.0
    max_tokens: int = 100


def test_picks_latest_deadline_outside_similarity_window():
    requests = [req("early", 5_000), req("late", 20_000), req("mid", 10_000)]
    for seed in range(20):
        pick = pick_inference(requests, {"w1": "gemma"}, NOW, random.Random(seed))
        assert pick.request["request_id"] == "late"


def test_random_among_requests_within_window_of_latest():
    requests = [req("a", 20_000), req("b", 19_000), req("c", 18_500), req("d", 17_000)]
    chosen = {
        pick_inference(requests, {"w1": "gemma"}, NOW, random.Random(seed)).request["request_id"]
        for seed in range(200)
    }
    assert chosen == {"a", "b", "c"}  # d is 3 s behind the latest


def test_deterministic_for_seeded_rng_and_independent_of_input_order():
    requests = [req(f"r{i}", 10_000 + 100 * i) for i in range(10)]
    workers = {"w1": "gemma", "w2": "gemma", "w3": "gemma"}
    first = pick_inference(requests, workers, NOW, random.Random(42))
    again = pick_inference(list(reversed(requests)), dict(reversed(workers.items())), NOW,
                           random.Random(42))
    assert (first.request["request_id"], first.worker_id) == (
        again.request["request_id"], again.worker_id)


def test_honours_any_accepted_model_with_a_free_worker():
    """§15.6: v1 ran acceptedModels[0] even when only another accepted model was loaded."""
    request = req("r", 10_000, models=["mistral", "tinyllama", "gemma"])
    pick = pick_inference([request], {"w9": "gemma", "w8": "phi"}, NOW, random.Random(0))
    assert (pick.worker_id, pick.model) == ("w9", "gemma")
    # the requester's order decides among several loaded models
    pick = pick_inference([request], {"w9": "gemma", "w7": "tinyllama"}, NOW, random.Random(0))
    assert (pick.worker_id, pick.model) == ("w7", "tinyllama")


def test_none_without_free_worker_or_live_request():
    request = req("r", 10_000, models=["mistral"])
    assert pick_inference([request], {}, NOW, random.Random(0)) is None
    assert pick_inference([request], {"w1": "gemma"}, NOW, random.Random(0)) is None
    assert pick_inference([req("old", 0)], {"w1": "gemma"}, NOW, random.Random(0)) is None
    assert pick_inference([], {"w1": "gemma"}, NOW, random.Random(0)) is None


def test_skips_requests_in_process_and_unservable_ones_even_if_later():
    requests = [req("busy", 30_000), req("other-model", 25_000, models=["x"]), req("ok", 1_000)]
    pick = pick_inference(requests, {"w1": "gemma"}, NOW, random.Random(0), in_process={"busy"})
    assert pick.request["request_id"] == "ok"


def test_carries_generation_parameters_and_sanitises_them():
    pick = pick_inference([req("r", 1000, temperature=0.2, max_tokens=64)], {"w": "gemma"}, NOW,
                          random.Random(0))
    assert (pick.temperature, pick.max_tokens) == (0.2, 64)
    request, worker_id, model, temperature, max_tokens = pick
    assert (worker_id, model) == ("w", "gemma")
    hostile = req("h", 1000, temperature=math.nan, max_tokens=10**9)
    pick = pick_inference([hostile], {"w": "gemma"}, NOW, random.Random(0))
    assert pick.temperature == 1.0 and pick.max_tokens == DEFAULT_MAX_TOKENS
    pick = pick_inference([req("h", 1000, temperature=9, max_tokens=-3)], {"w": "gemma"}, NOW,
                          random.Random(0))
    assert pick.temperature == 2.0 and pick.max_tokens == 1


def test_accepts_objects_and_camel_case_dicts():
    obj = Req("obj", NOW + 5000, max_tokens=77)
    assert pick_inference([obj], {"w": "gemma"}, NOW, random.Random(0)).max_tokens == 77
    camel = {"requestId": "c", "endingAt": NOW + 5000, "acceptedModels": ["gemma"], "maxTokens": 9}
    pick = pick_inference([camel], {"w": "gemma"}, NOW, random.Random(0))
    assert pick.request is camel and pick.max_tokens == 9


def test_malformed_requests_are_skipped():
    bad = [
        {"request_id": 5, "ending_at": NOW + 10, "accepted_models": ["gemma"]},
        {"request_id": "s", "ending_at": NOW + 10, "accepted_models": "gemma"},
        {"request_id": "n", "ending_at": math.nan, "accepted_models": ["gemma"]},
        {"request_id": "m", "ending_at": NOW + 10},
    ]
    assert pick_inference(bad, {"w": "gemma"}, NOW, random.Random(0)) is None


def job(kind, expires_in, priority=False, enqueued_ago=0, name=""):
    return {"kind": kind, "priority": priority, "expires_at": NOW + expires_in,
            "enqueued_at": NOW - enqueued_ago, "name": name}


def names(items):
    return [i["name"] for i in items]


def test_embedding_queue_priority_classes_then_expiry():
    items = [
        job("consensusVerification", 5_000, name="other-verif"),
        job("resultEmbedding", 9_000, name="result-late"),
        job("consensusVerification", 8_000, priority=True, name="own-verif-late"),
        job("resultEmbedding", 3_000, name="result-early"),
        job("consensusVerification", 2_000, priority=True, name="own-verif-early"),
    ]
    assert names(embedding_queue_order(items, NOW)) == [
        "own-verif-early", "own-verif-late", "result-early", "result-late", "other-verif"]


def test_embedding_queue_drops_expired_and_ages_starved_items():
    items = [
        job("resultEmbedding", 3_000, name="fresh-result"),
        job("consensusVerification", 4_000, enqueued_ago=30_000, name="starved"),
        job("consensusVerification", -1, priority=True, name="expired"),
        job("consensusVerification", 0, priority=True, name="expires-now"),
    ]
    ordered = names(embedding_queue_order(items, NOW, starvation_ms=10_000))
    assert ordered == ["starved", "fresh-result"]
    # without a clock nothing is dropped or aged
    assert names(embedding_queue_order(items))[-1] == "starved"
    assert len(embedding_queue_order(items)) == 4


@pytest.mark.parametrize("seed", range(5))
def test_embedding_queue_every_item_eventually_runs(seed):
    """Higher-class work keeps arriving; the low-class item still reaches the front."""
    rng = random.Random(seed)
    queue = [job("consensusVerification", 60_000, name="low")]
    now = NOW
    for step in range(100):
        now += 1000
        queue.append({"kind": "resultEmbedding", "expires_at": now + 5_000,
                      "enqueued_at": now, "name": f"r{step}"})
        queue = embedding_queue_order(queue, now, starvation_ms=10_000 + rng.randrange(5000))
        head = queue.pop(0)
        if head["name"] == "low":
            break
    else:
        pytest.fail("low-priority item starved")
    assert now - NOW <= 16_000


MODELS = ["m1", "m2", "m3"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-5_000, 30_000), st.lists(st.sampled_from(MODELS), max_size=3)),
        max_size=12,
    ),
    st.dictionaries(st.sampled_from(["w1", "w2", "w3", "w4"]), st.sampled_from(MODELS)),
    st.integers(0, 2**32),
)
def test_pick_invariants(specs, workers, seed):
    requests = [req(f"r{i}", ending, models) for i, (ending, models) in enumerate(specs)]
    pick = pick_inference(requests, workers, NOW, random.Random(seed))
    servable = [r for r in requests
                if r["ending_at"] > NOW and any(m in workers.values() for m in r["accepted_models"])]
    if not servable:
        assert pick is None
        return
    latest = max(r["ending_at"] for r in servable)
    assert pick.request in servable
    assert pick.request["ending_at"] >= latest - 2000
    assert workers[pick.worker_id] == pick.model
    # the model is the first accepted one that has a free worker
    assert pick.model == next(m for m in pick.request["accepted_models"] if m in workers.values())
    assert pick == pick_inference(requests, workers, NOW, random.Random(seed))
