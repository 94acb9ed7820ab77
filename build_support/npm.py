"""npm parts: `npm ci --ignore-scripts` of build_support/npm/{package.json,package-lock.json} into
.cache/npm (npm checks every tarball against the lock's integrity), then a check that the lock pins
what pins.toml pins. Trystero strategies are bundled with the pinned esbuild."""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from . import trystero_patches
from .hashing import BuildError

NPM_SPEC = Path(__file__).resolve().parent / "npm"
# stubs/empty stands in (package.json "overrides") for onnxruntime-node and sharp: Node-only
# dependencies of transformers.js that the browser bundle never loads (~300 MB unpacked).
SPEC_FILES = ("package.json", "package-lock.json", "stubs/empty/package.json")


def _spec_digest() -> str:
    h = hashlib.sha256()
    for name in SPEC_FILES:
        h.update((NPM_SPEC / name).read_bytes())
    return h.hexdigest()


def install(cache: Path, log) -> Path:
    """Return .cache/npm/node_modules, running `npm ci` only when the spec changed."""
    root = cache / "npm"
    stamp = root / ".installed"
    digest = _spec_digest()
    if stamp.exists() and stamp.read_text() == digest and (root / "node_modules").is_dir():
        return root / "node_modules"
    if shutil.which("npm") is None:
        raise BuildError("npm not found: install Node.js 20+ (Debian: apt-get install -y nodejs npm)")
    log("npm ci (first run: ~210 MB unpacked into .cache/npm)")
    root.mkdir(parents=True, exist_ok=True)
    for name in SPEC_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NPM_SPEC / name, root / name)
    env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip")
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=root, env=env, check=True)
    stamp.write_text(digest)
    return root / "node_modules"


def check_lock(pins: dict) -> dict:
    """Every npm package pinned in pins.toml must appear in the lock with that version and integrity.
    Returns {name: {version, integrity}} for build-info."""
    lock = json.loads((NPM_SPEC / "package-lock.json").read_text())["packages"]
    wanted = dict(pins["npm"]["packages"])
    wanted["pyodide"] = {"version": pins["pyodide"]["version"], "integrity": pins["pyodide"]["npm_integrity"]}
    problems = []
    for name, pin in wanted.items():
        entry = lock.get(f"node_modules/{name}")
        if entry is None:
            problems.append(f"{name}: not in build_support/npm/package-lock.json")
        elif (entry.get("version"), entry.get("integrity")) != (pin["version"], pin["integrity"]):
            problems.append(f"{name}: lock has {entry.get('version')} {entry.get('integrity')}, "
                            f"pins.toml has {pin['version']} {pin['integrity']}")
    if problems:
        raise BuildError("npm lock and pins.toml disagree:\n  " + "\n  ".join(problems))
    return wanted


def bundle_trystero(node_modules: Path, cache: Path, pins: dict, log) -> dict[str, Path]:
    """One minified ESM file per Trystero strategy, cached by (lock, esbuild args, our patches)."""
    args = pins["vendor"]["esbuild_args"]
    key = hashlib.sha256((_spec_digest() + json.dumps(args) + trystero_patches.digest()).encode()).hexdigest()[:16]
    out_dir = cache / "bundles" / key
    out = {}
    for strategy in pins["vendor"]["trystero_strategies"]:
        target = out_dir / f"trystero-{strategy}.mjs"
        if not target.exists():
            log(f"esbuild: trystero {strategy}")
            trystero_patches.apply(node_modules, log)
            entry = node_modules / "@trystero-p2p" / strategy / "dist" / "index.mjs"
            tmp = target.with_suffix(".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(node_modules / ".bin" / "esbuild"), str(entry), *args, f"--outfile={tmp}",
                            "--log-level=warning"], check=True)
            tmp.rename(target)
        out[strategy] = target
    return out
