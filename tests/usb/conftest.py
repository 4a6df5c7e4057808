import sys
from pathlib import Path

# tests/helpers is shared test code; make it importable as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
