"""The page side of dist/: index.html (web/ when it exists, else a placeholder), the model workers,
vendor files, and the README.md a Huggingface static Space reads.

PyScript (@pyscript/core) is installed but not shipped by default (pins.toml vendor.ship_pyscript):
the node boots Pyodide directly with loadPyodide() and installs rakis-py from the lock, so PyScript
would add a second loader and config layer (and ~6 MB) without doing anything the page needs."""
import shutil
from pathlib import Path

from .pins import ROOT

WEB = ROOT / "web"
WORKERS = ROOT / "workers"

PLACEHOLDER_INDEX = """<!doctype html>
<meta charset="utf-8">
<title>rakis-py</title>
<p>rakis-py static build (placeholder page: the UI lives in web/ and is copied here when present).</p>
<p>Parts: <a href="build-info.json">build-info.json</a>, <a href="models/manifest.json">models/manifest.json</a>.</p>
"""

# Huggingface static Space: the YAML front matter is its config. The COOP/COEP headers give the page
# SharedArrayBuffer (Pyodide interrupts, 2-thread onnxruntime wasm).
SPACE_README = """---
title: rakis-py
emoji: 🕸️
colorFrom: indigo
colorTo: green
sdk: static
app_file: index.html
pinned: false
license: apache-2.0
custom_headers:
  cross-origin-embedder-policy: require-corp
  cross-origin-opener-policy: same-origin
  cross-origin-resource-policy: cross-origin
---

# rakis-py

A permissionless AI inference network in browser tabs. Open the page: the tab becomes a node that
runs its models locally (WebGPU, WASM fallback) and meshes with other tabs over WebRTC.
Built by `python build.py` from pinned, hash-checked parts; `build-info.json` lists them.
"""


def copy_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("."):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def write_page(out: Path) -> str:
    """Copy web/ (or write the placeholder); returns which one for build-info."""
    if WEB.is_dir() and (WEB / "index.html").exists():
        copy_tree(WEB, out)
        source = "web/"
    else:
        (out / "index.html").write_text(PLACEHOLDER_INDEX)
        source = "placeholder"
    (out / "README.md").write_text(SPACE_README)
    return source


def write_workers(out: Path) -> None:
    copy_tree(WORKERS, out / "workers")


def write_vendor(node_modules: Path, bundles: dict[str, Path], pins: dict, out: Path) -> None:
    vendor = pins["vendor"]
    tf = out / "vendor" / "transformers"
    tf.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(node_modules / "@huggingface" / "transformers" / vendor["transformers_file"],
                    tf / "transformers.min.js")
    ort = out / "vendor" / "onnxruntime"
    ort.mkdir(parents=True, exist_ok=True)
    for name in vendor["ort_files"]:
        shutil.copyfile(node_modules / "onnxruntime-web" / "dist" / name, ort / name)
    trystero = out / "vendor" / "trystero"
    trystero.mkdir(parents=True, exist_ok=True)
    for strategy, path in bundles.items():
        shutil.copyfile(path, trystero / f"{strategy}.mjs")
    uplot = out / "vendor" / "uplot"
    uplot.mkdir(parents=True, exist_ok=True)
    for name in vendor.get("uplot_files", []):
        shutil.copyfile(node_modules / "uplot" / "dist" / name, uplot / name)
    if vendor.get("ship_pyscript"):
        copy_tree(node_modules / "@pyscript" / "core" / "dist", out / "vendor" / "pyscript")
