"""The schema: docs/dataset.md documents every kind and field of FIELDS; record validation."""

from __future__ import annotations

import os
import re

from rakis_py.analytics.schema import FIELDS, SCHEMA, new_record, problems

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "dataset.md")


def test_docs_document_every_kind_and_field():
    text = open(DOC, encoding="utf-8").read()
    assert SCHEMA in text
    sections = re.split(r"^### `(\w+)`", text, flags=re.M)
    documented = {k: body for k, body in zip(sections[1::2], sections[2::2])}
    assert set(documented) == set(FIELDS)
    for kind, fields in FIELDS.items():
        rows = set(re.findall(r"^\| `(\w+)` \|", documented[kind], flags=re.M))
        assert rows == set(fields), kind


def test_new_record_keeps_known_fields_only():
    r = new_record("sent", t=5, type="peerHeart", size=10, requestId=None, bogus=1)
    assert r == {"kind": "sent", "t": 5, "type": "peerHeart", "size": 10}
    assert problems(r) == []


def test_problems_names_missing_and_ill_typed_fields():
    assert problems({"kind": "nope"}) == ["unknown kind 'nope'"]
    out = problems({"kind": "packet", "t": "soon", "channel": "nostr", "size": True})
    assert "packet: missing outcome" in out
    assert any(p.startswith("packet.t:") for p in out) and any(p.startswith("packet.size:") for p in out)
    assert problems({"kind": "consensus", "t": 1, "requestId": "r", "success": True,
                     "clusterDistance": 3}) == []          # an int is a valid float
