"""createdAt formatting/parsing, checked against node's Date."""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rakis_py.protocol.timefmt import format_js_date, parse_js_date
from tests.unit import jsnode

needs_node = pytest.mark.skipif(jsnode.NODE is None, reason="node is not on PATH: cannot compare with JavaScript")

MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
MIN_MS = -62135596800000  # 0001-01-01T00:00:00.000Z

# v1's stringifyDateWithOffset shape, written the usual way from local getters (spec §3).
JS_V1_FORMAT = r"""
const pad = (n, w = 2) => String(Math.floor(Math.abs(n))).padStart(w, '0');
function stringifyDateWithOffset(date) {
  const tzo = -date.getTimezoneOffset(), dif = tzo >= 0 ? '+' : '-';
  return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) +
    'T' + pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds()) +
    '.' + pad(date.getMilliseconds(), 3) + dif + pad(tzo / 60) + ':' + pad(tzo % 60);
}
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {formatted: input.ms.map(ms => { const d = new Date(ms);
                 return [stringifyDateWithOffset(d), -d.getTimezoneOffset()]; }),
             parsed: input.strings.map(s => { const t = Date.parse(s); return isNaN(t) ? null : t; })};
console.log(JSON.stringify(out));
"""


def _random_ms(rng: random.Random) -> int:
    return rng.choice([
        rng.randint(0, 2_000_000_000_000),
        rng.randint(1_700_000_000_000, 1_800_000_000_000),
        rng.randint(MIN_MS + 86_400_000, MAX_MS - 86_400_000),
        rng.randint(-86_400_000, 86_400_000),
    ])


@needs_node
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Kiritimati"])
def test_format_matches_v1_function_in_node(tz):
    rng = random.Random(tz)
    ms = [_random_ms(rng) for _ in range(300)] + [0, 1721942261123, 1721942261000]
    ms = [m for m in ms if m >= 0]  # the JS helper above does not pad years below 1000
    strings = ["2024-07-25T21:17:41.123+08:00", "2024-07-25T21:17:41Z", "2024-07-25T21:17:41.123Z"]
    proc = subprocess.run(
        [jsnode.NODE, "-e", JS_V1_FORMAT],
        input=json.dumps({"ms": ms, "strings": strings}),
        capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": tz},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for m, (js_text, offset) in zip(ms, out["formatted"]):
        assert format_js_date(m, offset) == js_text
        assert parse_js_date(js_text) == m
    if tz == "UTC":
        assert all(t.endswith("+00:00") for t, _ in out["formatted"])
    else:  # node really applied the zone (odd offsets like +05:45 exercise the minutes)
        assert any(off % 60 for _, off in out["formatted"])


@needs_node
def test_parse_agrees_with_date_parse():
    rng = random.Random(7)
    strings = [
        "2024-07-25T21:17:41.123+08:00", "2024-07-25T21:17:41Z", "2024-07-25T21:17:41.123Z",
        "2024-07-25T21:17:41.1Z", "2024-07-25T21:17:41.12345678Z", "2024-07-25T21:17Z",
        "2024-07-25", "2024-07-25T24:00:00Z", "2024-07-25T21:17:41.123-00:00",
        "2024-07-25T21:17:41.123+23:59", "2024-07-25T21:17:41.123-12:30", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z", "2000-02-29T12:00:00Z",
    ]
    for _ in range(300):
        off = rng.randint(-23 * 60 - 59, 23 * 60 + 59)
        strings.append(format_js_date(_random_ms(rng), off))
    proc = subprocess.run(
        [jsnode.NODE, "-e", JS_V1_FORMAT], input=json.dumps({"ms": [], "strings": strings}),
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    parsed = json.loads(proc.stdout)["parsed"]
    assert None not in parsed
    assert [parse_js_date(s) for s in strings] == parsed


@pytest.mark.parametrize("bad", [
    "", "2024-07-25T21:17:41", "2024-07-25T21:17:41.123", "2024-07-25 21:17:41Z",
    "2024-07-25T21:17:41.Z", "2024-07-25T21:17:41.1234567890Z", "2024-13-01T00:00:00Z",
    "2024-00-01T00:00:00Z", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
    "2024-07-25T21:60:00Z", "2024-07-25T21:17:60Z", "2024-07-25T24:00:01Z",
    "2024-07-25T25:00:00Z", "2024-07-25T21:17:41+24:00", "2024-07-25T21:17:41+08:60",
    "2024-07-25T21:17:41+0800", "2024-07-25t21:17:41z", " 2024-07-25T21:17:41Z",
    "2024-07-25T21:17:41Z\n", "２０２４-07-25T21:17:41Z", "+002024-07-25T21:17:41Z",
    "Thu Jul 25 2024", "1721942261123", "nan", "2024-07-25T21:17:41ZZ",
])
def test_rejects_anything_else(bad):
    with pytest.raises(ValueError):
        parse_js_date(bad)


@pytest.mark.parametrize("bad", [None, 1721942261123, b"2024-07-25T21:17:41Z"])
def test_rejects_non_strings_with_value_error(bad):
    with pytest.raises(ValueError):
        parse_js_date(bad)


def test_format_shape_and_arguments():
    assert format_js_date(1721942261123) == "2024-07-25T21:17:41.123+00:00"
    assert format_js_date(1721942261123, 480) == "2024-07-26T05:17:41.123+08:00"
    assert format_js_date(1721942261123, -210) == "2024-07-25T17:47:41.123-03:30"
    assert format_js_date(-1) == "1969-12-31T23:59:59.999+00:00"
    with pytest.raises(ValueError):
        format_js_date(MAX_MS + 1)
    with pytest.raises(ValueError):
        format_js_date(0, 24 * 60)
    with pytest.raises(TypeError):
        format_js_date(1.5)  # type: ignore[arg-type]


@given(st.integers(MIN_MS + 86_400_000, MAX_MS - 86_400_000), st.integers(-1439, 1439))
def test_round_trip(ms, offset):
    text = format_js_date(ms, offset)
    assert len(text) == 29
    assert parse_js_date(text) == ms
    assert parse_js_date(text[:23] + "Z") == ms + offset * 60_000
