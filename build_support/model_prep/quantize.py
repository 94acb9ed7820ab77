"""int8 weight quantisation shared by both models (onnxruntime's dynamic quantiser, QInt8).
transformers.js loads `onnx/model_quantized.onnx` for dtype "q8"."""
from pathlib import Path


def quantize_q8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
