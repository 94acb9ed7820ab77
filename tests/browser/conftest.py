"""Fixtures of the browser tests: the built page (dist/, or $RAKIS_DIST) served on 127.0.0.1 with
COOP/COEP, and Debian's chromium through Playwright. Everything SKIPS, with the reason, when dist
is missing or older than web/ and rakis_py/browser, or chromium or playwright is missing, so the
CPython suite stays green without them. (To run them: `python build.py` first, or RAKIS_DIST=...)"""
import os
import zipfile
from pathlib import Path

import pytest

from tests.build.support import chromium_launcher, serve

ROOT = Path(__file__).resolve().parents[2]


def _dist_problem(dist: Path) -> str | None:
    if not (dist / "index.html").exists():
        return f"no built site at {dist} (run `python build.py`)"
    if not (dist / "js" / "boot.js").exists():
        return f"{dist} was built without web/ (placeholder page); rebuild it"
    wheels = sorted((dist / "pyodide").glob("rakis_py-*.whl"))
    if not wheels:
        return f"{dist}/pyodide has no rakis_py wheel"
    with zipfile.ZipFile(wheels[-1]) as zf:
        names = set(zf.namelist())
        for path in sorted((ROOT / "rakis_py" / "browser").glob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name not in names or zf.read(name) != path.read_bytes():
                return f"{wheels[-1].name} holds another {name} than the checkout; rebuild dist"
    for path in sorted((ROOT / "web").rglob("*")):
        built = dist / path.relative_to(ROOT / "web")
        if path.is_file() and (not built.exists() or built.read_bytes() != path.read_bytes()):
            return f"{built} differs from {path.relative_to(ROOT)}; rebuild dist"
    return None


@pytest.fixture(scope="session")
def node_dist() -> Path:
    dist = Path(os.environ.get("RAKIS_DIST", ROOT / "dist"))
    problem = _dist_problem(dist)
    if problem:
        pytest.skip(problem)
    return dist


@pytest.fixture(scope="session")
def node_url(node_dist):
    with serve(node_dist) as url:
        yield url + "index.html"


@pytest.fixture(scope="session")
def chromium(request):
    browser = chromium_launcher(request)()
    yield browser
    browser.close()


@pytest.fixture
def fresh_context(chromium, node_url):
    """A new browser profile (empty localStorage and IndexedDB) that may reach only the local server."""
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval, which the page's
    # Content-Security-Policy refuses; tests/browser/test_faults_csp.py runs the page under it.
    context = chromium.new_context(bypass_csp=True)
    context.offsite = []
    # These tests are about one tab: keep it off the network (no relay config here, so the page
    # would otherwise try Trystero's public relays). tests/network/ runs tabs on local relays.
    context.add_init_script("try { localStorage.setItem('rakis.channels', 'none'); } catch (e) {}")

    def route(r):
        if r.request.url.startswith(node_url.rsplit("/", 1)[0]):
            r.continue_()
        else:
            context.offsite.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    yield context
    context.close()
