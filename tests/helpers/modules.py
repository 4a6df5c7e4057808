"""Build real-shaped Particle firmware modules for tests.

The builder lives in the package (``particle_py.sim.contents``) because the simulator,
the demo and the forum replay make the same stand-in modules; tests import it from here.
"""
from __future__ import annotations

from particle_py.sim.contents import build_module, default_start  # noqa: F401  (re-exported)


def write_module(path, data: bytes):
    path.write_bytes(data)
    return path
