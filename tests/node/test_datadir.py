"""The node's data directory: one node per directory (a second one stops with a clear error), the
identity file made once and kept (mode 0600)."""
from __future__ import annotations

import stat

from rakis_py.node.datadir import DataDir


def test_identity_is_made_once_and_kept(tmp_path):
    first, created = DataDir(tmp_path / "d").identity()
    again, created_again = DataDir(tmp_path / "d").identity()
    assert created and not created_again
    assert again.synthient_id == first.synthient_id
    assert stat.S_IMODE((tmp_path / "d" / "identity.json").stat().st_mode) == 0o600


def test_a_second_node_on_the_same_directory_stops(start_node, tmp_path):
    args = ["--topic", "rakis-lock", "--nostr", "ws://127.0.0.1:9"]      # nothing listens: no network needed
    first = start_node(args, tmp_path / "d")
    first.wait_log(r"node [0-9a-f]{64} ")
    second = start_node(args, tmp_path / "d")
    assert second.proc.wait(30) == 1
    assert "another rakis node runs on" in second.log()
    assert first.proc.poll() is None
    assert first.stop() == 0
