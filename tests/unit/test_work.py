"""work.Work on its own: workers, jobs and the embedding queue, without a Node."""

from rakis_py.protocol.events import WorkerStatus
from rakis_py.protocol.quorum import Frame
from rakis_py.protocol.work import EmbedItem, Work

FRAME = Frame(protocol=2, quorum=1, max_time_ms=30_000, sec_distance=100, sec_percentage=0.5,
              embedding_model="emb", embedding_model_hash="aa")


def _work() -> Work:
    w = Work()
    w.update_worker(WorkerStatus("llm-0", "llm", "m", "ready"))
    w.update_worker(WorkerStatus("emb-0", "embedding", "emb", "ready", model_hash="AA"))
    return w


def test_a_job_makes_its_worker_busy_until_it_finishes():
    w = _work()
    assert w.free("llm") == {"llm-0": "m"}
    job = w.start("inference", "r1", "llm-0", 5, "xyzw")
    assert job.job_id == "inference-1-xyzw" and w.free("llm") == {}
    assert [v.busy for v in w.views() if v.worker_id == "llm-0"] == [True]
    assert w.finish(job.job_id) is job and w.free("llm") == {"llm-0": "m"}
    assert w.finish(job.job_id) is None


def test_a_departing_worker_hands_back_its_job():
    w = _work()
    job = w.start("inference", "r1", "llm-0", 5, "abcd")
    assert w.update_worker(WorkerStatus("llm-0", "llm", "m", "gone")) is job
    assert w.count("llm") == 0 and job.job_id not in w.jobs


def test_assign_pairs_items_with_fitting_embedders_and_releases_expired_ones():
    w = _work()
    assert w.has_embedder(FRAME)          # sha256 compared case-insensitively
    tag = ("r1", "sid", "iid")
    assert w.claim_verification(tag) and not w.claim_verification(tag)
    w.queue.append(EmbedItem("consensusVerification", "r1", 10, 0, targets=(("sid", "iid"),)))
    w.queue.append(EmbedItem("resultEmbedding", "r2", 1_000, 0, texts=("t",)))
    assigned = w.assign(100, lambda rid: FRAME, "emb")
    assert [(i.request_id, wid, m) for i, wid, m in assigned] == [("r2", "emb-0", "emb")]
    assert w.queue == [] and w.claim_verification(tag)   # the expired item released its reveal


def test_other_model_file_does_not_fit():
    w = _work()
    w.update_worker(WorkerStatus("emb-0", "embedding", "emb", "ready", model_hash="bb"))
    assert not w.has_embedder(FRAME)
    assert w.assign(0, lambda rid: FRAME, "emb") == []
