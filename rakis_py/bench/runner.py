"""Repeat a measurement, summarise it (median, min, max, runs, unit), and run figure groups so that
one failing or unmeasurable figure becomes `{"value": None, "reason": ...}` instead of a crash.

A figure is either measured: {"median", "min", "max", "runs", "unit"} (+ optional "note"), or
unavailable: {"value": None, "reason"}. Nothing else goes into the JSON."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def summarize(values: Sequence[float], unit: str, digits: int = 3, note: str | None = None) -> dict:
    """The figure of several runs: median with min and max."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no runs to summarise")
    out = {"median": round(statistics.median(vals), digits), "min": round(min(vals), digits),
           "max": round(max(vals), digits), "runs": len(vals), "unit": unit}
    if note:
        out["note"] = note
    return out


def unavailable(reason: str) -> dict:
    """A figure that could not be measured here, and why."""
    return {"value": None, "reason": reason}


def repeat(fn: Callable[[], float], runs: int, unit: str, warmup: int = 0, digits: int = 3,
           note: str | None = None) -> dict:
    """Call `fn` (returning one measured value) `warmup` times unrecorded, then `runs` times."""
    for _ in range(warmup):
        fn()
    return summarize([fn() for _ in range(runs)], unit, digits, note)


def timed_ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


class Unavailable(RuntimeError):
    """A prerequisite is missing: the group's figures become null with this message as the reason."""


def is_measured(fig: dict) -> bool:
    return fig.get("value", 0) is not None and "median" in fig


@dataclass
class Context:
    """What a group needs to know about this run; `cache` shares expensive setup between groups."""
    quick: bool = False
    root: Path = ROOT
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))
    cache: dict = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def runs(self, quick: int, full: int) -> int:
        return quick if self.quick else full


@dataclass(frozen=True)
class Group:
    """Figures measured together (they share setup): `measure(ctx, wanted)` returns name -> figure."""
    name: str
    figures: tuple[str, ...]
    measure: Callable[[Context, frozenset[str]], dict]


def run_groups(groups: Iterable[Group], ctx: Context, only: Iterable[str] | None = None) -> dict:
    """name -> figure for every figure of `groups` (restricted to `only`), in the groups' order."""
    wanted = frozenset(only) if only else None
    out: dict[str, dict] = {}
    for g in groups:
        names = [n for n in g.figures if wanted is None or n in wanted]
        if not names:
            continue
        ctx.log(f"[bench] {g.name}: {', '.join(names)}")
        t0 = time.perf_counter()
        try:
            got = g.measure(ctx, frozenset(names)) or {}
        except Unavailable as e:
            got = {n: unavailable(str(e)) for n in names}
        except Exception as e:  # one broken group must not hide the others' figures
            got = {n: unavailable(f"{g.name} failed: {type(e).__name__}: {e}") for n in names}
        for n in names:
            fig = got.get(n)
            out[n] = fig if isinstance(fig, dict) else unavailable("not measured by its group")
        ctx.log(f"[bench] {g.name} done in {time.perf_counter() - t0:.1f} s")
    return out
