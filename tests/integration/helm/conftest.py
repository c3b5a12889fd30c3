"""The HelmRelease tests drive a source-controller too: its test helpers (`source_env`) live
with the source tests; make them importable here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "source"))
