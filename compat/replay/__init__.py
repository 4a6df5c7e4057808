"""Replay of recorded dfu-util transcripts (compat/dfu-util/scenarios.md notation) against our
dfu-util on simulated devices. See docs/compat-replay.md; entry point scripts/compat-replay."""
from .notation import NotationError, Scenario, parse_file  # noqa: F401
