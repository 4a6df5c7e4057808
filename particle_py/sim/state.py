"""Create a simulator state folder (what ``PARTICLE_PY_SIM`` points at). Stdlib only."""
from __future__ import annotations

import glob
import os
from typing import Iterable, Optional

from . import knobs as knobs_mod
from .bus import LOG_FILE, STATE_FILE, SimBus


def create_state(state_dir, profiles: Iterable[str], knobs: Optional[dict] = None) -> SimBus:
    """Attach ``profiles`` (in attach order: bus 1, ports 2, 3, ..., devnum 5, 6, ...) with the
    fault ``knobs`` (FAKE_* names, with or without the prefix) and save them to ``state_dir``.

    Any previous state in the folder is replaced. Returns the saved bus.
    """
    state_dir = os.fspath(state_dir)
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir, 0o700, exist_ok=True)     # a new folder: owner-only, it holds keys
    boards = [pattern for kind in ("unit*.bin", "unit*-serial.json", "unit*-app-serial.jsonl")
              for pattern in glob.glob(os.path.join(state_dir, kind))]      # flash, Wi-Fi credentials, app output
    for name in [STATE_FILE, LOG_FILE] + boards:
        path = name if os.path.isabs(name) else os.path.join(state_dir, name)
        if os.path.exists(path):
            os.remove(path)
    if isinstance(profiles, str):
        profiles = profiles.split(",")
    profiles = _rejoin_options(profiles)
    bus = SimBus(state_dir, knobs)
    for spec in profiles:
        dev = bus.attach(spec.strip())
        for knob, value in knobs_mod.active(dev.knobs, "start"):
            if hasattr(dev, "state_code") and knob.effect == "state":
                dev.state_code = value
            if hasattr(dev, "status") and knob.effect == "status":
                dev.status = value
    bus.save()
    return bus


def _rejoin_options(items) -> list:
    """['photon:real=1', 'id=3a00...', 'argon'] -> ['photon:real=1:id=3a00...', 'argon']: a list
    split on commas hands profile options (key=value without a profile name) back to their profile."""
    out: list = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if out and "=" in item and ":" not in item.split("=", 1)[0]:
            out[-1] += ":" + item
        else:
            out.append(item)
    return out
