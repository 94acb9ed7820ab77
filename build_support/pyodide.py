"""dist/pyodide/: Pyodide's core files from npm and the official wheels it needs, each wheel checked
against the sha256 in Pyodide's own pyodide-lock.json (the browser's loader checks them again). The
dist lock lists exactly the wheels dist holds (plus rakis-py, added by rakis_wheel.py)."""
import json
import re
import shutil
import zipfile
from pathlib import Path

from .hashing import BuildError, sha256_bytes


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(lock_packages: dict, roots: list[str]) -> list[str]:
    """Lock keys of `roots` and everything they depend on."""
    by_canon = {canonical(k): k for k in lock_packages}
    seen: list[str] = []
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        key = by_canon.get(name)
        if key is None:
            raise BuildError(f"pyodide-lock.json has no package {name!r}")
        if key in seen:
            continue
        seen.append(key)
        todo.extend(canonical(d) for d in lock_packages[key]["depends"])
    return sorted(seen)


def assemble(node_modules: Path, wheel_source: Path, pins: dict, out: Path) -> dict:
    """Copy the core, extract and verify the wheels; return the trimmed lock (not yet written)."""
    pin = pins["pyodide"]
    pkg_dir = node_modules / "pyodide"
    version = json.loads((pkg_dir / "package.json").read_text())["version"]
    if version != pin["version"]:
        raise BuildError(f"node_modules/pyodide is {version}, pins.toml wants {pin['version']}")
    out.mkdir(parents=True, exist_ok=True)
    for name in pin["core_files"]:
        shutil.copyfile(pkg_dir / name, out / name)
    lock = json.loads((pkg_dir / "pyodide-lock.json").read_text())
    wanted = closure(lock["packages"], pin["packages"])
    prefix = pin["wheel_source"]["prefix"]
    with zipfile.ZipFile(wheel_source) as zf:
        for key in wanted:
            entry = lock["packages"][key]
            try:
                data = zf.read(prefix + entry["file_name"])
            except KeyError:
                raise BuildError(f"{wheel_source.name} has no {entry['file_name']} (needed by {key})") from None
            if sha256_bytes(data) != entry["sha256"]:
                raise BuildError(f"{entry['file_name']} from {wheel_source.name} does not match the sha256 in "
                                 f"Pyodide {pin['version']}'s lock")
            (out / entry["file_name"]).write_bytes(data)
    return {"info": lock["info"], "packages": {k: lock["packages"][k] for k in wanted}}


def write_lock(lock: dict, out: Path) -> None:
    (out / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
