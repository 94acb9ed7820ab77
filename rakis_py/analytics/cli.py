"""`rakis analyze DATASET... --out DIR`: the stability report from one or more node datasets.

Each DATASET is a `rakis-dataset/1` .jsonl file, a Parquet directory, or a simulator output
directory/file (`rakis-dataset/0`, adapted to one receiver's view; pick it with --observer).
Given two datasets, the two-observer charts compare the first two.
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rakis analyze", description="Build the stability report (HTML) from node datasets.")
    ap.add_argument("datasets", nargs="+", metavar="DATASET")
    ap.add_argument("--out", required=True, help="directory for report.html and figures.json")
    ap.add_argument("--observer", default=None, help="receiver index for simulator rakis-dataset/0 files")
    ap.add_argument("--title", default=None)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from . import metrics
    from .io import load_dataset
    from .report import write_report

    try:
        datasets = [load_dataset(p, observer=args.observer) for p in args.datasets]
    except (OSError, ValueError) as e:
        print(f"rakis analyze: cannot read dataset: {e}", file=sys.stderr)
        return 2
    path = write_report(datasets, args.out, args.title)
    with open(path.replace("report.html", "figures.json"), "w", encoding="utf-8") as f:
        json.dump(metrics.headline(datasets), f, indent=1, default=str)
    print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
