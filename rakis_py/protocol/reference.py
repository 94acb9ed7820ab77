"""Which published result a node compares the others against: one rule, used by the node, the
analytics report and the page's live charts (web/js/analytics.js reads the same case table,
tests/cases/reference_result.json).

The reference is this node's own published result when it has one; otherwise the winner hash
that most published results name, ties broken by the smallest hash (a missing hash sorts as "").
A published result agrees when its winner hash equals the reference's.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Optional

__all__ = ["reference_hash", "agreement_counts"]


def reference_hash(own: Optional[str], hashes: Iterable[Optional[str]]) -> Optional[str]:
    """The reference winner hash: `own` if given, else the most common of `hashes` (ties: the
    smallest, None counted as ""). None when there is neither."""
    if own is not None:
        return own
    tally = Counter(h or "" for h in hashes)
    if not tally:
        return None
    top = max(tally.values())
    best = min(h for h, n in tally.items() if n == top)
    return best or None


def agreement_counts(own: Optional[str], hashes: list[Optional[str]]) -> tuple[int, int]:
    """(agree, disagree) of the published `hashes` against the reference."""
    ref = reference_hash(own, hashes)
    agree = sum(1 for h in hashes if (h or None) == ref) if ref is not None else 0
    return agree, len(hashes) - agree
