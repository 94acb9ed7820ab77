"""`rakis` / `python -m rakis_py`: the command line (sim, serve, node, bench, analyze, dataset).

Each subcommand lives in its own module; this file only dispatches, so `import rakis_py` stays
light (the browser never imports the CLI)."""

from __future__ import annotations

import sys

USAGE = """usage: rakis <command> [options]

commands:
  sim       run the network simulator (rakis sim --help)
  serve     serve dist/ with local relays (rakis serve --help)
  node      join the network as a CPython node (rakis node --help)
  bench     run the benchmark suite, one JSON object with --json (rakis bench --help)
  analyze   build the stability report from datasets (rakis analyze --help)
  dataset   convert a node dataset to Parquet or JSON Lines (rakis dataset convert --help)
"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "sim":
        from rakis_py.sim.cli import main as sim_main
        return sim_main(rest)
    if cmd == "analyze":
        from rakis_py.analytics.cli import main as analyze_main
        return analyze_main(rest)
    if cmd == "dataset":
        from rakis_py.analytics.cli import dataset_main
        return dataset_main(rest)
    if cmd == "serve":
        from rakis_py.serve.cli import main as serve_main
        return serve_main(rest)
    if cmd == "node":
        from rakis_py.node.cli import main as node_main
        return node_main(rest)
    if cmd == "bench":
        from rakis_py.bench.cli import main as bench_main
        return bench_main(rest)
    print(f"rakis: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
