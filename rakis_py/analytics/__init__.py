"""Analytics: every node records a dataset (`rakis-dataset/1`, docs/dataset.md); the stability
report is built from one or more datasets.

Modules: `schema` (kinds and fields), `recorder` (`DatasetRecorder`: node actions -> records, pure,
stdlib only, runs under Pyodide), `io` (`load_dataset`, `write_jsonl`, `write_parquet`),
`metrics` (the stability-test figures, numpy), `report` (HTML with matplotlib charts), `cli`
(`rakis analyze`). Only the light parts are imported here.
"""

from .recorder import DatasetRecorder, Retention
from .schema import SCHEMA

__all__ = ["DatasetRecorder", "Retention", "SCHEMA"]
