"""Rules the page (JS) and Python both hold, checked against one case table each (tests/cases):
the reference result (web/js/analytics.js vs rakis_py/protocol/reference.py) and the ICE-server
check (web/js/transport/config.js vs rakis_py/serve/site_config.py)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rakis_py.serve.site_config import parse_ice_servers

HERE = Path(__file__).parent
CASES = HERE.parent / "cases"
REFERENCE = json.loads((CASES / "reference_result.json").read_text())["cases"]
ICE = json.loads((CASES / "ice_servers.json").read_text())


@pytest.fixture(scope="module")
def js():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js 20+) not installed")
    done = subprocess.run([node, str(HERE / "shared_rules.mjs")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_js_reference_result_follows_the_case_table(js):
    for case, got in zip(REFERENCE, js["reference"], strict=True):
        assert got == {"reference": case["reference"], "counts": [case["agree"], case["disagree"]]}, case


def test_js_ice_check_follows_the_case_table(js):
    assert js["iceOk"] == [None] * len(ICE["ok"])
    for case, problem in zip(ICE["bad"], js["iceBad"], strict=True):
        assert problem is not None and case["why"] in problem, (case, problem)


def test_python_ice_check_follows_the_case_table():
    for text in ICE["ok"]:
        assert parse_ice_servers(text) == json.loads(text)
    for case in ICE["bad"]:
        with pytest.raises(ValueError) as e:
            parse_ice_servers(case["value"])
        assert case["why"] in str(e.value), (case, str(e.value))
