"""The build venv (.venv-build): torch, transformers, optimum-onnx, onnxruntime, gguf: model prep only,
never the runtime. Installed from requirements/build.txt (hash-pinned) when the lead has locked it,
else from requirements/build.in. torch 2.13.0: pip takes the CPU wheel from /opt/wheels when that
folder exists (these machines); elsewhere PyPI's torch 2.13.0 is the CUDA build and pulls ~3 GB of
nvidia-* wheels (works on CPU, just a long download)."""
import hashlib
import subprocess
import sys
from pathlib import Path

from .pins import ROOT

VENV = ROOT / ".venv-build"
LOCAL_WHEELS = Path("/opt/wheels")


def requirements_file() -> tuple[Path, bool]:
    locked = ROOT / "requirements" / "build.txt"
    if locked.exists():
        return locked, True
    return ROOT / "requirements" / "build.in", False


def ensure_build_venv(log) -> Path:
    """Return the build venv's python, creating/updating the venv only when its requirements changed."""
    req, hashed = requirements_file()
    python = VENV / "bin" / "python"
    stamp = VENV / ".rakis-requirements"
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    log(f"creating build venv {VENV.name} from {req.relative_to(ROOT)} (torch etc.; minutes on first run)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(req)]
    if hashed:
        cmd.append("--require-hashes")
    if LOCAL_WHEELS.is_dir():
        cmd += ["--find-links", str(LOCAL_WHEELS)]
    subprocess.run(cmd, check=True)
    stamp.write_text(digest)
    return python
