"""`python -m rakis_py.serve`."""
import sys

from .cli import main

sys.exit(main())
