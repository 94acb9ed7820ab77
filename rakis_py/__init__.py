"""rakis-py: a permissionless AI inference network that runs in browser tabs.

The protocol core (`rakis_py.protocol`) is pure: events in, actions out. It runs unchanged on
CPython (simulator, analytics, tests) and on Pyodide (the browser node).
"""

__version__ = "0.1.0"
