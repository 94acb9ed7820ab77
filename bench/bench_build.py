#!/usr/bin/env python3
"""Build figures as JSON: warm build time (nothing changed: the up-to-date check; and a forced
rebuild from a warm cache), "cold" time from cached downloads (model conversion, wheel build, esbuild
bundles and assembly, no network), and dist size per part. Builds into a temporary folder, so the
checkout's dist/ is left alone.

    python bench/bench_build.py            # all figures (the cold run converts both models: ~1.5 min)
    python bench/bench_build.py --no-cold  # warm figures and sizes only
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = [sys.executable, str(ROOT / "build.py"), "-q"]
DOWNLOADS = ("pypi", "npm")  # what a cold run may reuse: registry downloads only


def timed(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return round(time.perf_counter() - t, 2)


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
    files = json.loads((dist / "build-info.json").read_text())["files"]
    per: dict[str, int] = {}
    for rel in files:
        per[part_of(rel)] = per.get(part_of(rel), 0) + (dist / rel).stat().st_size
    return {"total_mb": round(sum(per.values()) / 1e6, 1), "files": len(files),
            "parts_mb": {k: round(v / 1e6, 2) for k, v in sorted(per.items(), key=lambda kv: -kv[1])}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-cold", action="store_true", help="skip the cold run (model conversion)")
    args = ap.parse_args()
    cache = ROOT / ".cache"
    result = {}
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as tmp:
        out = Path(tmp) / "dist"
        result["warm_first_build_s"] = timed(BUILD + ["--out", str(out)])
        result["warm_rebuild_forced_s"] = timed(BUILD + ["--out", str(out), "--force"])
        result["warm_up_to_date_s"] = timed(BUILD + ["--out", str(out)])
        t = time.perf_counter()
        ok = subprocess.run(BUILD[:2] + ["--check", "--out", str(out)], capture_output=True).returncode == 0
        result["check_s"] = round(time.perf_counter() - t, 2)
        result["check_ok"] = ok
        result["dist"] = sizes(out)
        if not args.no_cold:
            cold_cache = Path(tmp) / "cold-cache"
            cold_cache.mkdir()
            for name in DOWNLOADS:
                (cold_cache / name).symlink_to(cache / name)
            result["cold_from_cached_downloads_s"] = timed(
                BUILD + ["--out", str(Path(tmp) / "cold-dist"), "--cache", str(cold_cache)])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
