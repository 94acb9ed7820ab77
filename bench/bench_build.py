#!/usr/bin/env python3
"""Build figures as JSON: warm build time (nothing changed: the up-to-date check; and a forced
rebuild from a warm cache), "cold" time from cached downloads (model conversion, wheel build, esbuild
bundles and assembly, no network), and dist size per part. Builds into a temporary folder, so the
checkout's dist/ is left alone. `rakis bench` reports build_warm_s, dist_mb and (full mode)
build_cold_s the same way (rakis_py/bench/build.py, which also holds the size helpers used here).

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
sys.path.insert(0, str(ROOT))

from rakis_py.bench.build import DOWNLOADS, build_cmd, sizes  # noqa: E402  (`rakis bench` measures these too)

BUILD = build_cmd(ROOT)


def timed(cmd) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return round(time.perf_counter() - t, 2)


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
