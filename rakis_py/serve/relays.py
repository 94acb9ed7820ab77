"""Local signalling relays for `rakis serve` and the network tests, each a real child process.

- NostrRelay: nostr-sdk's LocalRelay (in memory) in `python -m rakis_py.serve.nostr_local`.
- MosquittoRelay: Debian's `mosquitto` with a websockets listener (what the page's mqtt.js uses)
  and the plain TCP listener mosquitto 2.0 needs, both on one host with `socket_domain ipv4`
  (without it mosquitto binds every interface or refuses to start).

Each relay: start() waits until it listens and raises PortInUse / RelayError with the reason;
stop() ends the process (SIGTERM, then SIGKILL after a grace period) and reaps it; restart() comes
back on the same ports (tests stop a relay mid-run and bring it back). Children also stop when the
parent dies: the Nostr child watches its stdin, mosquitto gets PR_SET_PDEATHSIG on Linux."""

from __future__ import annotations

import ctypes
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .ports import PortInUse, check_free, free_port, is_listening
from .site_config import _url_host

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


class RelayError(RuntimeError):
    """A relay could not start (missing program, bad config, crashed)."""


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. PR_SET_PDEATHSIG = 1: the kernel signals the child
    # when the forking thread exits, so it is only set for children of the main thread.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


class ChildRelay:
    """Common life cycle of a relay process. Subclasses give the command and readiness check."""

    channel = "?"

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # -- subclass hooks -------------------------------------------------------------------------
    def _resolve_ports(self) -> None: ...
    def _check_ports(self) -> None: ...
    def _spawn(self, workdir: Path) -> subprocess.Popen: ...
    def _wait_ready(self, deadline: float) -> None: ...

    @property
    def port(self) -> int:
        """The port the page connects to."""
        raise NotImplementedError

    # -- life cycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://{_url_host(self.host)}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> "ChildRelay":
        if self.running:
            return self
        self._resolve_ports()
        self._check_ports()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"rakis-{self.channel}-")
        self.proc = self._spawn(Path(self._tmp.name))
        try:
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f:
                    f.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def restart(self, timeout: float = START_TIMEOUT_S) -> "ChildRelay":
        self.stop()
        return self.start(timeout)

    def _stderr_tail(self) -> str:
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "stderr.log"
        return path.read_text(errors="replace")[-2000:].strip() if path.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.channel} {self.host}:{getattr(self, 'requested', '?')} {state}>"


class NostrRelay(ChildRelay):
    """In-memory Nostr relay on ws://host:port (nostr-sdk LocalRelay in a child process)."""

    channel = "nostr"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host)
        self.requested = port
        self._port = port

    @property
    def port(self) -> int:
        return self._port

    @staticmethod
    def available() -> str | None:
        """None when it can run, else why not."""
        try:
            import nostr_sdk  # noqa: F401
        except ImportError:
            return "nostr-sdk is not installed: pip install 'rakis-py[serve]' (or pip install nostr-sdk==0.45.1)"
        return None

    def _resolve_ports(self) -> None:
        if self._port == 0:
            self._port = free_port(self.host)

    def _check_ports(self) -> None:
        why = self.available()
        if why:
            raise RelayError(why)
        check_free(self.host, self._port, "nostr relay", "--nostr-port")

    def _spawn(self, workdir: Path) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_package_root(), env.get("PYTHONPATH")]))
        with open(workdir / "stderr.log", "wb") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "rakis_py.serve.nostr_local", "--host", self.host,
                 "--port", str(self._port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, text=True)

    def _wait_ready(self, deadline: float) -> None:
        lines: queue.Queue = queue.Queue()
        out = self.proc.stdout
        threading.Thread(target=lambda: lines.put(out.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RelayError(f"nostr relay did not start within the timeout; {self._stderr_tail()}")
        try:
            msg = json.loads(line) if line.strip() else {}
        except ValueError:
            msg = {}
        if "ready" in msg:
            return
        if msg.get("kind") == "port_in_use":
            raise PortInUse(self.host, self._port, "nostr relay", "--nostr-port")
        reason = msg.get("error") or self._stderr_tail() or f"exit code {self.proc.wait(5)}"
        raise RelayError(f"nostr relay failed to start: {reason}")


def mosquitto_path() -> str | None:
    # Debian installs it in /usr/sbin, which is not on a normal user's PATH.
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def mosquitto_config(host: str, ws_port: int, tcp_port: int) -> str:
    domain = "ipv6" if ":" in host else "ipv4"
    return "\n".join([
        "# written by rakis serve; the page's mqtt.js connects to the websockets listener",
        "per_listener_settings false",
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"listener {tcp_port} {host}",
        f"socket_domain {domain}",
        f"listener {ws_port} {host}",
        "protocol websockets",
        f"socket_domain {domain}",
        "",
    ])


class MosquittoRelay(ChildRelay):
    """mosquitto with a websockets listener on host:port and a plain TCP listener on host:tcp_port."""

    channel = "mqtt"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tcp_port: int = 0):
        super().__init__(host)
        self.requested = port
        self._port, self.tcp_port = port, tcp_port

    @property
    def port(self) -> int:
        return self._port

    @staticmethod
    def available() -> str | None:
        return None if mosquitto_path() else "mosquitto is not installed (apt-get install -y mosquitto)"

    def _resolve_ports(self) -> None:
        if self._port == 0:
            self._port = free_port(self.host)
        if self.tcp_port == 0:
            self.tcp_port = free_port(self.host)
            while self.tcp_port == self._port:
                self.tcp_port = free_port(self.host)

    def _check_ports(self) -> None:
        why = self.available()
        if why:
            raise RelayError(why)
        check_free(self.host, self._port, "mosquitto websockets listener", "--mqtt-port")
        check_free(self.host, self.tcp_port, "mosquitto TCP listener", "--mqtt-tcp-port")

    def _spawn(self, workdir: Path) -> subprocess.Popen:
        conf = workdir / "mosquitto.conf"
        conf.write_text(mosquitto_config(self.host, self._port, self.tcp_port))
        conf.chmod(0o644)
        main_thread = threading.current_thread() is threading.main_thread()
        with open(workdir / "stderr.log", "wb") as err:
            return subprocess.Popen(
                [mosquitto_path(), "-c", str(conf)], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err,
                preexec_fn=_die_with_parent if (main_thread and sys.platform == "linux") else None)

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._stderr_tail()
                if "in use" in tail.lower():
                    # Someone took a port between our check and mosquitto's bind.
                    raise PortInUse(self.host, self._port, "mosquitto", "--mqtt-port / --mqtt-tcp-port")
                raise RelayError(f"mosquitto exited with code {self.proc.returncode}: {tail}")
            if is_listening(self.host, self._port) and is_listening(self.host, self.tcp_port):
                return
            time.sleep(0.02)
        raise RelayError(f"mosquitto did not listen within the timeout; {self._stderr_tail()}")


class LocalRelays:
    """The relays `serve` runs: Nostr always, mosquitto when installed (or when asked for)."""

    def __init__(self, host: str = "127.0.0.1", nostr_port: int = 0, mqtt_port: int = 0,
                 mqtt_tcp_port: int = 0, mqtt: bool | None = None, nostr: bool = True):
        self.host = host
        self.relays: dict[str, ChildRelay] = {}
        self.skipped: dict[str, str] = {}
        if nostr:
            self.relays["nostr"] = NostrRelay(host, nostr_port)
        why = MosquittoRelay.available()
        if mqtt is True or (mqtt is None and why is None):
            self.relays["mqtt"] = MosquittoRelay(host, mqtt_port, mqtt_tcp_port)
        elif why:
            self.skipped["mqtt"] = why

    def start(self) -> "LocalRelays":
        try:
            for relay in self.relays.values():
                relay.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for relay in reversed(list(self.relays.values())):
            relay.stop()

    def ports(self) -> dict[str, int]:
        """channel -> the port the page connects to."""
        return {name: relay.port for name, relay in self.relays.items()}

    def died(self) -> list[str]:
        """Channels whose relay process was started and has exited on its own."""
        return [name for name, r in self.relays.items()
                if r.proc is not None and r.proc.poll() is not None]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
