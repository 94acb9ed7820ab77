"""Build figures (dist size, build time cold and warm). Every build goes to a temporary
folder under .cache/, so the checkout's dist/ is never touched (the browser figures use that one).

* build_warm_s: `python build.py --out TMP` with the warm cache of this checkout (.cache/: npm and
  PyPI downloads, converted models, the Trystero bundles, the rakis_py wheel when its sources did
  not change): a complete assembly of the site (Pyodide, wheels, vendor files, models, page), the
  first run into an empty folder, the next ones with --force. Before each run the bench waits for
  any other build of this checkout to release .cache/build.lock, so a build that was already
  running is not timed as ours.
* dist_mb: the size of every file the built site lists in build-info.json (MB = 10^6 bytes).
* build_cold_s (full mode only): the same build from a cache that holds only the registry
  downloads (npm, PyPI; no network is used): both models converted again in .venv-build, the
  rakis_py wheel and the esbuild bundles rebuilt (~1.5 min here).

bench/bench_build.py prints the same measurements (and sizes per part) as a standalone script."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .runner import Context, Group, Unavailable, summarize, unavailable

DOWNLOADS = ("pypi", "npm")   # what a cold build may reuse: registry downloads only


def build_cmd(root: Path) -> list[str]:
    return [sys.executable, str(root / "build.py"), "-q"]


def wait_for_lock(cache: Path) -> None:
    """Block until no other build holds `cache`/build.lock (build.py takes it for a whole build)."""
    lock = cache / "build.lock"
    if not lock.exists():
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        fcntl.flock(f, fcntl.LOCK_UN)


def timed_build(root: Path, args: list[str], cache: Path) -> float:
    """Seconds one `build.py -q ARGS` takes; raises RuntimeError with its output when it fails."""
    wait_for_lock(cache)
    t = time.perf_counter()
    r = subprocess.run(build_cmd(root) + args, cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"build.py {' '.join(args)} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    return elapsed


def part_of(rel: str) -> str:
    parts = rel.split("/")
    if parts[0] == "pyodide":
        if rel.endswith(".whl"):
            return "pyodide/rakis_py wheel" if parts[1].startswith("rakis_py-") else "pyodide/official wheels"
        return "pyodide/core"
    if parts[0] in ("vendor", "models") and len(parts) > 2:
        return "/".join(parts[:2])
    if parts[0] in ("workers", "models"):
        return parts[0]
    return "page"


def sizes(dist: Path) -> dict:
    """Total MB, file count and MB per part of a built site (the files build-info.json lists)."""
    files = json.loads((dist / "build-info.json").read_text())["files"]
    per: dict[str, int] = {}
    for rel in files:
        per[part_of(rel)] = per.get(part_of(rel), 0) + (dist / rel).stat().st_size
    return {"total_mb": round(sum(per.values()) / 1e6, 1), "files": len(files),
            "parts_mb": {k: round(v / 1e6, 2) for k, v in sorted(per.items(), key=lambda kv: -kv[1])}}


def cold_cache(tmp: Path, cache: Path) -> Path:
    """A build cache holding only the registry downloads of `cache` (symlinked)."""
    cold = tmp / "cold-cache"
    cold.mkdir()
    for name in DOWNLOADS:
        (cold / name).symlink_to(cache / name)
    return cold


def measure(ctx: Context, wanted: frozenset[str]) -> dict:
    root, cache = ctx.root, ctx.root / ".cache"
    if not (root / "build.py").exists():
        raise Unavailable("no build.py in this checkout")
    if not all((cache / d).is_dir() for d in DOWNLOADS):
        raise Unavailable(f"no warm build cache in {cache} (run python build.py once): the build figures "
                          "time a warm cache and a cold one made from its downloads")
    out = {}
    with tempfile.TemporaryDirectory(dir=cache, prefix="bench-build-") as tmp_name:
        tmp = Path(tmp_name)
        dist = tmp / "dist"
        if wanted & {"build_warm_s", "dist_mb"}:
            runs = ctx.runs(2, 3) if "build_warm_s" in wanted else 1
            times = []
            for i in range(runs):
                times.append(timed_build(root, ["--out", str(dist)] + (["--force"] if i else []), cache))
                ctx.log(f"[bench]   warm build {i + 1}: {times[-1]:.1f} s")
            if "build_warm_s" in wanted:
                out["build_warm_s"] = summarize(times, "s", 2, "python build.py into an empty folder (then "
                                                "--force) with this checkout's warm .cache: the whole site "
                                                "assembled, nothing downloaded or converted")
            if "dist_mb" in wanted:
                s = sizes(dist)
                parts = ", ".join(f"{k} {v}" for k, v in list(s["parts_mb"].items())[:6])
                out["dist_mb"] = summarize([s["total_mb"]], "MB", 1, f"{s['files']} files of build-info.json "
                                           f"(MB = 10^6 bytes); largest parts: {parts}")
        if "build_cold_s" in wanted:
            if ctx.quick:
                out["build_cold_s"] = unavailable("full mode only (`rakis bench` without --quick): a cold build "
                                                  "converts both models again (~1.5 min)")
            else:
                times = []
                for i in range(ctx.runs(1, 2)):
                    run_dir = tmp / f"cold-{i}"
                    run_dir.mkdir()
                    cold = cold_cache(run_dir, cache)
                    times.append(timed_build(root, ["--out", str(run_dir / "dist"), "--cache", str(cold)], cold))
                    ctx.log(f"[bench]   cold build {i + 1}: {times[-1]:.1f} s")
                    shutil.rmtree(run_dir, ignore_errors=True)
                out["build_cold_s"] = summarize(times, "s", 1, "python build.py with a cache holding only the "
                                                "npm and PyPI downloads (no network): models converted in "
                                                ".venv-build, rakis_py wheel and esbuild bundles rebuilt, site "
                                                "assembled")
    return out


GROUP = Group("build", ("dist_mb", "build_warm_s", "build_cold_s"), measure)
