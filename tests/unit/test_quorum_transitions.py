"""quorum.TRANSITIONS: the one table of legal status moves; every change marks the quorum."""

import pytest

from rakis_py.protocol.quorum import (AWAITING_COMMITMENTS, AWAITING_CONSENSUS, AWAITING_REVEAL, COMPLETED,
                                      FAILED, TRANSITIONS, VERIFYING_CONSENSUS, Commit, IllegalTransition,
                                      Quorum)


def _quorum(protocol: int, status: str = AWAITING_COMMITMENTS) -> tuple[Quorum, dict]:
    journal: dict = {}
    return Quorum("r", protocol, status, 2, 0, "emb").watch(journal), journal


def test_v1_walks_the_phases_once():
    q, journal = _quorum(1)
    for status in (AWAITING_REVEAL, AWAITING_CONSENSUS, VERIFYING_CONSENSUS, COMPLETED):
        q.move(status)
    assert q.status == COMPLETED and list(journal) == ["r"]
    with pytest.raises(IllegalTransition):
        q.move(AWAITING_REVEAL)


def test_v1_cannot_skip_a_phase():
    q, _ = _quorum(1)
    with pytest.raises(IllegalTransition):
        q.move(COMPLETED)


def test_v2_recomputes_and_follows_a_better_set_after_a_result():
    q, _ = _quorum(2)
    q.move(AWAITING_REVEAL)
    q.move(FAILED, failure="clustering")
    q.move(AWAITING_REVEAL, failure=None)
    assert q.failure is None
    q.move(COMPLETED)
    q.move(COMPLETED)
    with pytest.raises(IllegalTransition):
        q.move(VERIFYING_CONSENSUS)


def test_every_status_of_each_protocol_has_a_row():
    for table in TRANSITIONS.values():
        assert set().union(*table.values()) <= set(table)


def test_changes_mark_the_quorum_and_only_known_fields_update():
    q, journal = _quorum(2)
    q.add(Commit("i", "s", "h", 0))
    assert journal == {"r": None}
    journal.clear()
    q.update(asked_at=5)
    assert journal == {"r": None} and q.asked_at == 5
    with pytest.raises(AttributeError):
        q.update(status=COMPLETED)
