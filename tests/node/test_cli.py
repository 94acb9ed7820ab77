"""`rakis node`'s command line: bad options stop it before it starts, the `node` extra matches
requirements/node.in, and without aiortc it names the extra."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rakis_node(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rakis_py", "node", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_bad_options_stop_it_with_the_reason(tmp_path):
    r = rakis_node("--ice-servers", '[{"url": "stun:a"}]', "--data-dir", str(tmp_path))
    assert r.returncode == 2 and 'the key is "urls"' in r.stderr
    r = rakis_node("--nostr", "http://relay.example", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "is not a ws:// or wss:// URL" in r.stderr
    r = rakis_node("--channels", "nostr,torrent", "--data-dir", str(tmp_path))
    assert r.returncode != 0 and "unknown channel(s) torrent" in r.stderr
    assert not (tmp_path / "identity.json").exists()


def test_the_node_extra_matches_the_requirements():
    import tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pinned = [line.strip() for line in (ROOT / "requirements" / "node.in").read_text().splitlines()
              if "==" in line and not line.startswith("#")]
    assert sorted(extras["node"]) == sorted(pinned)


def test_without_aiortc_it_names_the_extra(tmp_path):
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text("import sys\nsys.modules['aiortc'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "hide"), str(ROOT)]))
    r = rakis_node("--data-dir", str(tmp_path / "d"), env=env)
    assert r.returncode == 3 and "pip install 'rakis-py[node]'" in r.stderr
