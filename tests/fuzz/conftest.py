import sys
from pathlib import Path

# tests/helpers (firmware module builder) is shared test code; import it as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
