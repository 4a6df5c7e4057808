"""A pytest plugin for scripts/fuzz's property phase (`-p fuzz_profile`): hypothesis without its
per-example deadline. A deadline is a wall-clock assertion, and a fuzz session runs at low
priority on a busy machine; a hang is caught by the session's own time limit instead."""
from hypothesis import settings

settings.register_profile("fuzz", deadline=None)
settings.load_profile("fuzz")
