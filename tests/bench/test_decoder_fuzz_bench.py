"""bench/bench_decoder_fuzz.py keeps working: a short run (the million-input run is a benchmark,
docs/faults.md) prints its JSON with every input accounted for and no exception."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_decoder_fuzz.py"


def test_short_fuzz_run_prints_its_figures():
    done = subprocess.run([sys.executable, str(SCRIPT), "--inputs", "3000", "--seed", "7"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["inputs"] == 3000 and out["exceptions"] == 0 and out["internal"] == 0
    assert sum(out["outcomes"].values()) == sum(out["kinds"].values()) == 3000
    assert out["accepted"] > 0 and out["inputs_per_s"] > 0
    assert set(out["kinds"]) == {"bytes", "tree", "valid", "random"}
