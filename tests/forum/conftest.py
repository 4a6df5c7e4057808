import sys
from pathlib import Path

# The replay runner lives in compat/forum_replay (test-side code, not shipped in the package).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "compat"))
