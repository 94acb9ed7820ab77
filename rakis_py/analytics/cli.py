"""`rakis analyze DATASET... --out DIR`: the stability report from one or more node datasets.
`rakis dataset convert IN --to parquet OUT`: a dataset as Parquet (or back to JSON Lines).

Each DATASET / IN is a `rakis-dataset/1` .jsonl file (a browser export, or `rakis sim --out DIR`'s
`DIR/observer-<k>.jsonl`), a Parquet directory (`rakis dataset convert` writes one), or the
simulator's network-wide ledger (`DIR/network.jsonl` of `--network-log`, `rakis-dataset/0`, adapted
to one receiver's view; pick it with --observer). Given two datasets, the two-observer charts
compare the first two.

The report needs matplotlib and Parquet needs pyarrow (CPython only, not in the page):
`pip install 'rakis-py[analyze]'`. Without them the commands stop with that message (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .io import MissingDependency

FORMATS = ("parquet", "jsonl")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rakis analyze", description="Build the stability report (HTML) from node datasets.")
    ap.add_argument("datasets", nargs="+", metavar="DATASET",
                    help="rakis-dataset/1 .jsonl file (browser export, sim observer-K.jsonl), Parquet directory, "
                         "or a simulator network.jsonl")
    ap.add_argument("--out", required=True, help="directory for report.html and figures.json")
    ap.add_argument("--observer", default=None, help="receiver index for a simulator network.jsonl (rakis-dataset/0)")
    ap.add_argument("--title", default=None)
    return ap


def _load(command: str, paths: list[str], observer, needs: tuple[str, str] | None):
    """The datasets at `paths`, after checking the optional module `needs` names; None after saying
    why on stderr (a missing extra, or a dataset that cannot be read)."""
    from .io import load_dataset, require
    try:
        if needs:
            require(*needs)
        return [load_dataset(p, observer=observer) for p in paths]
    except MissingDependency as e:
        print(f"{command}: {e}", file=sys.stderr)
    except (OSError, ValueError) as e:
        print(f"{command}: cannot read dataset: {e}", file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from . import metrics

    datasets = _load("rakis analyze", args.datasets, args.observer, ("matplotlib", "the report's charts (rakis analyze)"))
    if datasets is None:
        return 2
    from .report import write_report

    path = write_report(datasets, args.out, args.title)
    with open(path.replace("report.html", "figures.json"), "w", encoding="utf-8") as f:
        json.dump(metrics.headline(datasets), f, indent=1, default=str)
    print(path)
    return 0


# ---------------------------------------------------------------------- rakis dataset

def build_dataset_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rakis dataset", description="Work with node datasets (rakis-dataset/1).")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cv = sub.add_parser("convert", help="write a dataset as Parquet (a directory, one file per kind) or JSON Lines",
                        description="Write a dataset as Parquet (OUT is a directory with one <kind>.parquet "
                                    "per record kind; list/dict fields as JSON strings) or as JSON Lines "
                                    "(OUT is a .jsonl file, meta first, then every record in time order). "
                                    "`rakis analyze` reads both.")
    cv.add_argument("input", metavar="IN", help="a .jsonl file, a Parquet directory, or simulator output")
    cv.add_argument("output", metavar="OUT", help="Parquet directory or .jsonl file to write")
    cv.add_argument("--to", choices=FORMATS, default="parquet", help="output format (default %(default)s)")
    cv.add_argument("--observer", default=None, help="receiver index for a simulator network.jsonl (rakis-dataset/0)")
    cv.add_argument("--force", action="store_true", help="replace OUT if it exists")
    return ap


def _clear_output(out: str, fmt: str, force: bool) -> str | None:
    """Make room for OUT; a reason to stop instead (never deletes anything but old dataset files)."""
    if fmt == "parquet":
        if os.path.isfile(out):
            return f"{out} is a file; Parquet output is a directory"
        old = sorted(n for n in os.listdir(out)) if os.path.isdir(out) else []
        if not old:
            return None
        if not force:
            return f"{out} is not empty; pass --force to replace the Parquet files in it"
        others = [n for n in old if not n.endswith(".parquet")]
        if others:
            return f"{out} holds files other than *.parquet ({', '.join(others[:3])}); choose an empty directory"
        for n in old:           # a stale <kind>.parquet would be read back as part of the dataset
            os.remove(os.path.join(out, n))
        return None
    if os.path.isdir(out):
        return f"{out} is a directory; JSON Lines output is a file"
    if os.path.exists(out) and not force:
        return f"{out} exists; pass --force to replace it"
    return None


def convert(args: argparse.Namespace) -> int:
    from .io import write_jsonl, write_parquet

    loaded = _load("rakis dataset convert", [args.input], args.observer,
                   ("pyarrow", "writing Parquet") if args.to == "parquet" else None)
    if loaded is None:
        return 2
    ds = loaded[0]
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        print("rakis dataset convert: IN and OUT are the same path", file=sys.stderr)
        return 2
    problem = _clear_output(args.output, args.to, args.force)
    if problem:
        print(f"rakis dataset convert: {problem}", file=sys.stderr)
        return 2
    records = ds.records()
    try:
        if args.to == "parquet":
            files = write_parquet(records, args.output)
            what = f"{len(files)} Parquet files"
        else:
            write_jsonl(records, args.output)
            what = "JSON Lines"
    except (OSError, ValueError, TypeError, NotImplementedError) as e:   # pyarrow's errors derive from these
        print(f"rakis dataset convert: cannot write {args.output}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(records)} records ({ds.node[:16]}) as {what}")
    return 0


def dataset_main(argv: list[str] | None = None) -> int:
    args = build_dataset_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "convert":
        return convert(args)
    return 2   # pragma: no cover (argparse refuses other commands)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
