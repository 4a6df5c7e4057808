"""What tools/bench.py and tools/update_bench.py both use: modelled device time read from a
simulator state folder, and the Markdown tables they print. Stdlib only."""
from __future__ import annotations

import json
from pathlib import Path


# --- modelled device time --------------------------------------------------------------------


def device_time_us(state_dir) -> int:
    """All modelled device time a state folder has seen, over every device that ever was in it.

    A device that leaves the bus (DFU leave, reset, DFU_MODE) is replaced by a new device object
    whose clock starts at zero; its final clock is in its "detached" log event.
    """
    state_dir = Path(state_dir)
    with open(state_dir / "state.json", encoding="utf-8") as f:
        total = sum(int(d.get("device_time_us", 0)) for d in json.load(f).get("devices", []))
    log = state_dir / "log.jsonl"
    if log.exists():
        with open(log, encoding="utf-8") as f:
            for line in f:
                if '"detached"' in line:
                    entry = json.loads(line)
                    if entry.get("event") == "detached":
                        total += int(entry.get("t_us", 0))
    return total


# --- output ----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
