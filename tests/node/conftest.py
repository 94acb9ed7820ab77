"""Fixtures of the node tests: `rakis node` as a real process (its log read back line by line),
and, for the tests with tabs, the network tests' page, local relays and chromium
(tests/network/conftest.py: the `network` fixture, one chromium, tabs that are each a node)."""
from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.network.conftest import network  # noqa: F401 - the fixture, reused as is

ROOT = Path(__file__).resolve().parents[2]


def _needs_node_extra():
    for mod in ("aiortc", "coincurve", "websockets"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (requirements/node.in; pip install --require-hashes "
                        f"-r requirements/test.txt)")


class NodeProcess:
    """`python -m rakis_py node ...` with its stderr log in a file; `stop()` is Ctrl-C."""

    def __init__(self, data_dir: Path, args: list[str], log_path: Path):
        _needs_node_extra()
        self.data_dir = data_dir
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        self.started = time.monotonic()
        self.offset = log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rakis_py", "node", "--data-dir", str(data_dir), "--ice-servers", "[]",
             "--log-level", "debug", *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def wait_log(self, pattern: str, timeout_s: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout_s
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.log())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited ({self.proc.returncode}) before {pattern!r}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in the node's log within {timeout_s} s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    @property
    def synthient_id(self) -> str:
        return self.wait_log(r"node ([0-9a-f]{64}) ").group(1)

    def usage(self) -> tuple[float, float]:
        """(resident memory in MB, CPU seconds used so far) of the node process."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks

    def stop(self, timeout_s: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        return self.proc.returncode


@pytest.fixture
def start_node(tmp_path):
    """start_node(args, data_dir=None) -> NodeProcess; every node is stopped at the end."""
    nodes = []

    def start(args, data_dir=None):
        node = NodeProcess(data_dir or tmp_path / "node", list(args), tmp_path / f"node{len(nodes)}.log")
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()
