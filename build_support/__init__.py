"""Small modules that build.py strings together; one job each:

pins      read pins.toml            hashing   sha256 of files, build records
fetch     PyPI downloads, cached    npm       npm ci + esbuild bundles
pyodide   core + official wheels    rakis_wheel  the rakis_py wheel and its lock entry
models    model prep (.venv-build)  site      page, workers, Space README
check     verify a built dist
"""
