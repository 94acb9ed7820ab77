"""The reference-result rule against its shared case table (the JS reads the same table)."""

import json
from pathlib import Path

import pytest

from rakis_py.protocol.reference import agreement_counts, reference_hash

CASES = json.loads((Path(__file__).parents[1] / "cases" / "reference_result.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[json.dumps(c["hashes"]) + str(c["own"]) for c in CASES])
def test_reference_rule(case):
    assert reference_hash(case["own"], case["hashes"]) == case["reference"]
    assert agreement_counts(case["own"], case["hashes"]) == (case["agree"], case["disagree"])
