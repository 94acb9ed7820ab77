"""v1's `createdAt` dates: format (stringifyDateWithOffset, v1 spec §3) and parse (what `Date` reads).

Pure functions of their arguments: the caller passes epoch milliseconds and, for formatting, the
local UTC offset in minutes *east* of UTC (+480 renders `+08:00`; this is the negation of JS
`Date.getTimezoneOffset()`).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_js_date", "parse_js_date"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_OFFSET_MINUTES = 24 * 60 - 1

# The ISO-8601 subset `Date` parses that carries its own zone (or is date-only, which JS reads
# as UTC). A date-time *without* offset is local time to JS, which a sans-IO core cannot know,
# so it is refused. Fractions of any length are truncated to milliseconds, as V8 does.
_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<z>Z|[+-]\d{2}:\d{2}))?\Z",
    re.ASCII,
)


def format_js_date(ms: int, offset_minutes: int = 0) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmm+HH:MM` for epoch `ms` shown at `offset_minutes` east of UTC."""
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise TypeError("ms must be an int (milliseconds since the Unix epoch)")
    if isinstance(offset_minutes, bool) or not isinstance(offset_minutes, int):
        raise TypeError("offset_minutes must be an int")
    if abs(offset_minutes) > _MAX_OFFSET_MINUTES:
        raise ValueError(f"offset_minutes out of range: {offset_minutes}")
    try:
        local = _EPOCH + timedelta(milliseconds=ms + offset_minutes * 60_000)
    except OverflowError:
        raise ValueError(f"date out of range: {ms} ms") from None
    if not 1 <= local.year <= 9999:  # pragma: no cover - timedelta already limits this
        raise ValueError(f"date out of range: {ms} ms")
    sign = "+" if offset_minutes >= 0 else "-"
    oh, om = divmod(abs(offset_minutes), 60)
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T"
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}.{local.microsecond // 1000:03d}"
        f"{sign}{oh:02d}:{om:02d}"
    )


def parse_js_date(s: str) -> int:
    """Epoch milliseconds of an ISO date as v1 writes it (or `Z` forms); ValueError otherwise."""
    if not isinstance(s, str):
        raise ValueError(f"date must be a string, got {type(s).__name__}")
    return _parse_js_date(s)


@functools.lru_cache(maxsize=4096)
def _parse_js_date(s: str) -> int:
    # Cached: every receiver of a broadcast parses the same createdAt (errors are not cached).
    m = _ISO.match(s)
    if m is None:
        raise ValueError(f"not an ISO-8601 date with zone (e.g. 2024-07-25T21:17:41.123+08:00): {s[:64]!r}")
    y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
    h = int(m["h"] or 0)
    mi = int(m["mi"] or 0)
    sec = int(m["s"] or 0)
    milli = int((m["f"] or "0")[:3].ljust(3, "0"))
    end_of_day = h == 24 and mi == 0 and sec == 0 and milli == 0  # ISO's 24:00 = next midnight
    if end_of_day:
        h = 0
    try:
        # datetime also refuses impossible days (Feb 30), which V8 would roll into March.
        wall = datetime(y, mo, d, h, mi, sec, milli * 1000, tzinfo=timezone.utc)
    except ValueError as e:
        raise ValueError(f"invalid date {s[:64]!r}: {e}") from None
    offset = 0
    z = m["z"]
    if z and z != "Z":
        oh, om = int(z[1:3]), int(z[4:6])
        if oh > 23 or om > 59:
            raise ValueError(f"invalid UTC offset in {s[:64]!r}")
        offset = (oh * 60 + om) * (1 if z[0] == "+" else -1)
    delta = wall - _EPOCH
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if end_of_day:
        ms += 86_400_000
    return ms - offset * 60_000
