import os

import pytest

from particle_py.sim import create_state


class Recorder:
    """One text stream of a run; all streams append to the same list, in write order."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def write(self, text):
        self.log.append((self.name, text))
        return len(text)

    def flush(self):
        pass


class Result:
    def __init__(self, log, status):
        self.log, self.status = log, status

    @property
    def out(self):
        return "".join(t for s, t in self.log if s == "out")

    @property
    def err(self):
        return "".join(t for s, t in self.log if s == "err")

    @property
    def merged(self):
        """Both streams in write order, stderr pieces marked with '!'."""
        return "".join(t if s == "out" else "".join("!" + line for line in t.splitlines(True)) for s, t in self.log)


@pytest.fixture
def sim(tmp_path, monkeypatch):
    """make(profiles, knobs) creates a simulator; run(argv, version) runs our dfu-util on it."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    state = tmp_path / "state"

    class Sim:
        path = state

        def make(self, profiles, knobs=None):
            create_state(state, profiles, knobs or {})

        def run(self, *args, version="0.11", clock=lambda: 0, prog="dfu-util"):
            from particle_py.cli.dfu_util.main import main
            log = []
            env = {**os.environ, "PARTICLE_PY_SIM": str(state), "PARTICLE_PY_DFU_UTIL_VERSION": version}
            status = main([prog, *args], stdout=Recorder(log, "out"), stderr=Recorder(log, "err"),
                          environ=env, clock=clock)
            return Result(log, status)

        def memory(self, alt, address, length, unit=0):
            from particle_py import usb as transport
            from particle_py.sim import SimBus
            transport.release_simulator()
            return SimBus.load(state).devices()[unit].memory(alt).peek(address, length)

    yield Sim()
    from particle_py import usb as transport
    transport.release_simulator()
