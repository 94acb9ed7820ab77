"""Model conversion scripts. Each runs inside the build venv (.venv-build: torch, transformers,
optimum-onnx, onnxruntime, gguf) as `python -m build_support.model_prep.<name> IN_WHEEL OUT_DIR`,
never in the runtime. build_support/models.py decides when to run them (cache by input hash)."""
