"""Small modules that build.py strings together; one job each:

pins         read pins.toml                  hashing      sha256 helpers, BuildError
fetch        PyPI downloads, cached          npm          npm ci + Trystero bundles (esbuild)
pyodide      core + official wheels + lock   rakis_wheel  the rakis_py wheel and its lock entry
build_venv   .venv-build for model prep      models       model conversion, cached by input hash
model_prep/  the conversion scripts (run inside .venv-build)
model_site   dist/models + manifest.json     site         page, workers, vendor files, Space README
check        verify a built dist
"""
