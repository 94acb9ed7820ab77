"""The rakis_py wheel of the page, built from this checkout (pip wheel, no deps) and added to the dist
lock so `pyodide.loadPackage("rakis-py")` installs it offline. Cached by the hash of its sources.

It holds only what the page runs (`PAGE_PARTS`: the core, the browser adapter, the storage table
names, the dataset recorder), not the simulator, `rakis serve`, `rakis bench`, the analytics
report or the CLI: the page never imports them, and every module in the wheel is bytes Pyodide
downloads and unpacks at each cold start. tests/build/test_dist.py checks that the wheel imports
whole and holds nothing else."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .hashing import BuildError, sha256_file, tree_digest
from .pins import ROOT

# Fixed zip timestamps: the same sources give the same wheel bytes (setuptools/wheel honour it).
SOURCE_DATE_EPOCH = "315532800"


# What the page imports (web/js/boot.js: rakis_py.browser.node_host and .webcrypto), relative to
# rakis_py/: a folder ending in "/" is taken whole (its .py files), anything else is one module.
PAGE_PARTS = ("__init__.py", "protocol/", "browser/", "runtime/__init__.py", "runtime/storage.py",
              "analytics/__init__.py", "analytics/recorder.py", "analytics/schema.py")


def sources() -> list[Path]:
    package = ROOT / "rakis_py"
    files: list[Path] = []
    for part in PAGE_PARTS:
        if part.endswith("/"):
            files += sorted(p for p in (package / part).rglob("*.py") if "__pycache__" not in p.parts)
        else:
            files.append(package / part)
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise BuildError(f"rakis_wheel.PAGE_PARTS names missing files: {missing}")
    return files + [ROOT / "pyproject.toml"]


def build(cache: Path, log) -> Path:
    key = tree_digest(sources(), ROOT)[:20]
    folder = cache / "rakis_wheel" / key
    found = list(folder.glob("*.whl"))
    if found:
        return found[0]
    log("building the rakis_py wheel")
    tmp = folder.with_name(key + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # Build from a clean copy of the sources: no stale build/ or egg-info in the checkout.
    src = tmp / "src"
    for path in sources():
        target = src / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                    "--disable-pip-version-check", "-w", str(tmp)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(src)
    wheels = list(tmp.glob("rakis_py-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"pip wheel produced {wheels}")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder / wheels[0].name


def lock_entry(wheel: Path, pins: dict) -> dict:
    pin = pins["rakis_py"]
    return {
        "name": pin["lock_name"],
        "version": wheel.name.split("-")[1],
        "file_name": wheel.name,
        "install_dir": "site",
        "sha256": sha256_file(wheel),
        "package_type": "package",
        "imports": list(pin["imports"]),
        "depends": list(pin["depends"]),
        "unvendored_tests": False,
    }
