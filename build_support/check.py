"""Verify a built dist against the hashes its build-info.json records: every recorded file present
with its sha256, no unrecorded files, the Pyodide lock's sha256s matching the wheels, and the model
files being the ones pins.toml pins (so a dist whose build-info was rewritten along with a model
still fails)."""
import json
from pathlib import Path

from .hashing import sha256_file
from .pins import load_pins

INFO = "build-info.json"


def record_files(dist: Path) -> dict[str, str]:
    return {str(p.relative_to(dist)): sha256_file(p)
            for p in sorted(dist.rglob("*")) if p.is_file() and p.name != INFO}


def check_dist(dist: Path) -> list[str]:
    """Problems found (empty list: dist is intact)."""
    info_path = dist / INFO
    if not info_path.exists():
        return [f"{info_path} is missing (not a dist built by build.py?)"]
    try:
        recorded = json.loads(info_path.read_text())["files"]
    except (ValueError, KeyError) as e:
        return [f"{info_path} is unreadable: {e}"]
    problems = []
    present = {str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file() and p.name != INFO}
    for rel, sha in sorted(recorded.items()):
        if rel not in present:
            problems.append(f"missing: {rel}")
        elif sha256_file(dist / rel) != sha:
            problems.append(f"modified: {rel} (sha256 differs from build-info.json)")
    problems += [f"unexpected file: {rel}" for rel in sorted(present - set(recorded))]
    lock_path = dist / "pyodide" / "pyodide-lock.json"
    if lock_path.exists():
        for name, entry in json.loads(lock_path.read_text())["packages"].items():
            wheel = f"pyodide/{entry['file_name']}"
            if wheel in recorded and recorded[wheel] != entry["sha256"]:
                problems.append(f"pyodide-lock.json: {name} sha256 does not match {wheel}")
            elif wheel not in recorded:
                problems.append(f"pyodide-lock.json: {name} names {wheel}, which dist does not hold")
    problems += _check_models(dist, recorded)
    return problems


def _check_models(dist: Path, recorded: dict) -> list[str]:
    try:
        manifest = json.loads((dist / "models" / "manifest.json").read_text())
    except (OSError, ValueError):
        return ["models/manifest.json is missing or unreadable"]
    if manifest.get("online"):
        return []
    problems = []
    for role, spec in load_pins()["models"].items():
        rel = f"models/{spec['name']}/{spec['output_file']}"
        if recorded.get(rel) != spec["output_sha256"]:
            problems.append(f"{rel}: not the file pins.toml pins for models.{role} ({spec['output_sha256']})")
    if manifest.get("embeddingModelHash") != load_pins()["models"]["embedding"]["output_sha256"]:
        problems.append("models/manifest.json: embeddingModelHash is not the pinned embedding model")
    return problems
