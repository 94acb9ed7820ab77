"""Local work: the model workers a node has, the jobs it handed them and the embedding queue.

Pure bookkeeping, testable without a `Node`: no actions, no timers. The node asks which workers
are free, registers a job when it hands one out (`start`), and hears back which job a finished or
failed worker message belonged to (`finish`). The embedding queue is ordered by
`scheduler.embedding_queue_order` (v1 spec §6.5 priorities); `assign` pairs queued items with free
embedders, the node turns each pair into a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .events import WorkerStatus
from .quorum import Frame
from .scheduler import embedding_queue_order

__all__ = ["EmbedItem", "Job", "Work", "Worker", "WorkerView", "VERIFY_BACKLOG_PER_EMBEDDER"]

VERIFY_BACKLOG_PER_EMBEDDER = 4    # owed verifications per embedder before we stop taking inferences


@dataclass
class Worker:
    worker_id: str
    kind: str
    model: str
    state: str
    backend: str = ""
    job: Optional[str] = None
    model_hash: Optional[str] = None     # sha256 of the model file, when the worker reports it


@dataclass(frozen=True)
class WorkerView:
    """A read-only copy of one worker, for adapters and the UI."""

    worker_id: str
    kind: str
    model: str
    state: str
    backend: str
    busy: bool
    model_hash: Optional[str]


@dataclass
class Job:
    job_id: str
    kind: str                    # "inference" | "embed_result" | "verify"
    request_id: str
    worker_id: str
    inference_id: str = ""
    started_at: int = 0
    targets: tuple = ()          # verify: commit keys (v2) or texts (v1) in job order


@dataclass
class EmbedItem:
    kind: str                    # "resultEmbedding" | "consensusVerification"
    request_id: str
    expires_at: int
    enqueued_at: Optional[int]   # None: never jumps the queue for waiting long (late checks)
    priority: bool = False
    inference_id: str = ""       # result item: our inference
    texts: tuple = ()
    targets: tuple = ()


def embedder_fits(w: Worker, frame: Frame) -> bool:
    """An embedding worker for this frame: its model, and (v2) the model file the frame names
    by sha256, unless the frame names none or the worker reports none (then trusted as is)."""
    if w.kind != "embedding" or w.model != frame.embedding_model:
        return False
    want, have = frame.embedding_model_hash, w.model_hash
    return want is None or have is None or str(want).lower() == str(have).lower()


class Work:
    """Workers, jobs in flight, requests being inferred and the embedding queue of one node."""

    def __init__(self) -> None:
        self.workers: dict[str, Worker] = {}
        self.jobs: dict[str, Job] = {}
        self.in_process: set[str] = set()            # requestIds being inferred locally
        self.queue: list[EmbedItem] = []
        self.verify_queued: set[tuple] = set()       # (requestId, synthientId, inferenceId) queued or running
        self._seq = 0

    # ------------------------------------------------------------------ workers

    def update_worker(self, ev: WorkerStatus) -> Optional[Job]:
        """Apply a worker's status; returns the job a departed worker leaves unfinished."""
        w = self.workers.get(ev.worker_id)
        if ev.state == "gone":
            if w is not None:
                del self.workers[ev.worker_id]
                if w.job and w.job in self.jobs:
                    return self.jobs.pop(w.job)
        elif w is None:
            self.workers[ev.worker_id] = Worker(ev.worker_id, ev.kind, ev.model, ev.state, ev.backend,
                                                model_hash=ev.model_hash)
        else:
            w.state, w.backend, w.model = ev.state, ev.backend, ev.model
            if ev.model_hash is not None:
                w.model_hash = ev.model_hash
        return None

    def free(self, kind: str) -> dict[str, str]:
        """Ready, idle workers of a kind: worker id -> model."""
        return {w.worker_id: w.model for w in self.workers.values()
                if w.kind == kind and w.state == "ready" and w.job is None}

    def count(self, kind: str, state: Optional[str] = None) -> int:
        return sum(1 for w in self.workers.values() if w.kind == kind and (state is None or w.state == state))

    def model_of(self, worker_id: str) -> str:
        w = self.workers.get(worker_id)
        return w.model if w is not None else ""

    def has_embedder(self, frame: Frame) -> bool:
        return any(w.state in ("ready", "loading") and embedder_fits(w, frame)
                   for w in self.workers.values())

    def live_embedders(self, model: str) -> list[Worker]:
        return [w for w in self.workers.values() if w.kind == "embedding" and w.model == model
                and w.state in ("ready", "loading")]

    def views(self) -> tuple[WorkerView, ...]:
        return tuple(WorkerView(w.worker_id, w.kind, w.model, w.state, w.backend, w.job is not None,
                                w.model_hash) for w in self.workers.values())

    # ------------------------------------------------------------------ jobs

    def start(self, kind: str, request_id: str, worker_id: str, now: int, suffix: str,
              inference_id: str = "", targets: tuple = ()) -> Job:
        """Register a job handed to `worker_id` (busy until `finish`)."""
        self._seq += 1
        job = Job(f"{kind}-{self._seq}-{suffix}", kind, request_id, worker_id, inference_id, now, targets)
        self.jobs[job.job_id] = job
        self.workers[worker_id].job = job.job_id
        return job

    def finish(self, job_id: str) -> Optional[Job]:
        """The job `job_id` ended (answered, failed or timed out): its worker is free again."""
        job = self.jobs.pop(job_id, None)
        if job is None:
            return None
        if job.kind == "verify":
            self._release(job.request_id, job.targets)
        if job.worker_id in self.workers:
            self.workers[job.worker_id].job = None
        return job

    def verification_backlog(self) -> bool:
        """Back-pressure: while our embedders still owe verifications of quorums we joined, take
        no new inference (the stability test saw nodes starve their reveals this way)."""
        embedders = self.count("embedding", "ready")
        owed = sum(1 for i in self.queue if i.kind == "consensusVerification" and i.priority)
        return owed > VERIFY_BACKLOG_PER_EMBEDDER * max(embedders, 1)

    # ------------------------------------------------------------------ embedding queue

    def claim_verification(self, tag: tuple) -> bool:
        """Mark one reveal (requestId, synthientId, inferenceId) as queued; False if it already is."""
        if tag in self.verify_queued:
            return False
        self.verify_queued.add(tag)
        return True

    def drop_expired(self, now: int) -> None:
        self.queue = [i for i in self.queue if i.expires_at > now]

    def assign(self, now: int, frame_of: Callable[[str], Optional[Frame]],
               default_model: str) -> list[tuple[EmbedItem, str, str]]:
        """Pair queued items with free embedders in queue order: [(item, worker id, model)]. The
        assigned items leave the queue; expired ones are dropped (and may be queued again later)."""
        if not self.queue:
            return []
        free = self.free("embedding")
        if not free:
            return []
        kept = embedding_queue_order(self.queue, now)
        if len(kept) != len(self.queue):
            alive = {id(i) for i in kept}
            for item in self.queue:
                if id(item) not in alive:
                    self._release(item.request_id, item.targets)
        remaining, assigned = [], []
        for item in kept:
            frame = frame_of(item.request_id)
            model = frame.embedding_model if frame else default_model
            worker = next((w for w, m in sorted(free.items()) if m == model
                           and (frame is None or embedder_fits(self.workers[w], frame))), None)
            if worker is None:
                remaining.append(item)
                continue
            del free[worker]
            assigned.append((item, worker, model))
        self.queue = remaining
        return assigned

    def _release(self, request_id: str, targets: tuple) -> None:
        for key in targets:
            if isinstance(key, tuple):
                self.verify_queued.discard((request_id, *key))
