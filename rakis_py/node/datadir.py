"""A node's data directory: its identity, its SQLite store, and a lock so one directory runs one node.

    DATA_DIR/identity.json   {"privateKeyHex", "synthientId"} (mode 0600; made on first start)
    DATA_DIR/node.sqlite     every record the core persists (rakis_py/runtime/sqlite_store.py)
    DATA_DIR/.lock           held (flock) while a node runs on this directory

Two processes on one directory would sign as one node and write the same tables, as two tabs on one
identity would (the page refuses that with a Web Lock); the second one stops with a clear error.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from ..protocol.identity import Identity

__all__ = ["DataDir", "DataDirBusy"]


class DataDirBusy(RuntimeError):
    pass


class DataDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.path.mkdir(parents=True, exist_ok=True)
        self.db_path = self.path / "node.sqlite"
        self.identity_path = self.path / "identity.json"
        self._lock_fd: int | None = None

    def lock(self) -> None:
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(f"another rakis node runs on {self.path} (one data directory, one node)") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def identity(self) -> tuple[Identity, bool]:
        """(identity, created): the stored one, or a new one written first."""
        if self.identity_path.exists():
            data = json.loads(self.identity_path.read_text())
            identity = Identity.from_private_key(data["privateKeyHex"])
            if data.get("synthientId") not in (None, identity.synthient_id):
                raise ValueError(f"{self.identity_path}: synthientId does not match the private key")
            return identity, False
        identity = Identity.generate(os.urandom(32))
        tmp = self.identity_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"privateKeyHex": identity.private_key_hex, "synthientId": identity.synthient_id}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.identity_path)
        return identity, True
