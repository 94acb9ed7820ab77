"""pins.toml: every version and hash dist/ is built from (one place)."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS_FILE = ROOT / "pins.toml"


def load_pins(path: Path = PINS_FILE) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)
