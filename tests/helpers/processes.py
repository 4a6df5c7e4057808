"""Real processes, real signals (tests/signals, tests/cli_core): the installed console scripts run
on the simulator, on a pty or with pipes, and a signal arrives at an exact step.

The step is chosen with the simulator's PAUSE_AFTER=R@K knob: once the K-th class request R
(1 = DNLOAD, 2 = UPLOAD) is carried out, the device holds that transfer while a ``paused`` file
exists in the state folder. The test waits for the file, sends the signal (or types ^C on the
pty), removes the file, and reads what the process said and what the device holds.
"""
from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
GUARD_S = 120          # a hung child fails the test instead of hanging the run (not a timing assertion)


def script(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}"
    return str(path)


@dataclass
class Outcome:
    status: int          # as a shell shows it: 128 + signal for a process killed by a signal
    signalled: bool      # killed by the signal itself (dfu-util's way) rather than exiting
    out: str             # stdout (with pipes) or everything the terminal showed (pty)
    err: str             # stderr (pipes); "" on a pty
    raw_out: bytes = b""  # stdout as written (for encodings other than UTF-8)


class Child:
    """A started console script; ``interrupt`` sends a signal (on a pty, ^C is typed)."""

    def __init__(self, argv, env, cwd, use_pty):
        self.use_pty = use_pty
        self.buffers = {"out": bytearray(), "err": bytearray()}
        self.readers = []
        if use_pty:
            pid, fd = pty.fork()
            if pid == 0:            # child: the pty is its controlling terminal, as in a shell
                try:
                    os.chdir(cwd)
                    os.execve(argv[0], argv, env)
                finally:
                    os._exit(127)
            self.pid, self.master = pid, fd
            self._hanging_up = False
            self._drain(self._read_pty, "out")
        else:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.pid = self.proc.pid
            self._drain(lambda: os.read(self.proc.stdout.fileno(), 65536), "out")
            self._drain(lambda: os.read(self.proc.stderr.fileno(), 65536), "err")

    def _drain(self, read, name):
        def loop():
            while True:
                try:
                    chunk = read()
                except OSError:         # EIO: the pty's other side is closed
                    return
                if not chunk:
                    return
                self.buffers[name] += chunk
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.readers.append(t)

    def _read_pty(self) -> bytes:
        import select
        while not self._hanging_up:
            if select.select([self.master], [], [], 0.05)[0]:
                return os.read(self.master, 65536)
        return b""

    def hang_up(self):
        """Close the terminal (the pty's master side), as closing a terminal window does. The
        reader stops first: a read() in progress would keep the master open."""
        self._hanging_up = True
        for t in self.readers:
            t.join(5)
        os.close(self.master)
        self.master = None

    def interrupt(self, sig=signal.SIGINT):
        if self.use_pty and sig == signal.SIGINT:
            os.write(self.master, b"\x03")          # the terminal's ^C: SIGINT to the foreground group
        else:
            os.kill(self.pid, sig)

    def wait(self) -> Outcome:
        deadline = time.monotonic() + GUARD_S
        while True:
            if self.use_pty:
                pid, raw = os.waitpid(self.pid, os.WNOHANG)
                done = pid != 0
            else:
                done = self.proc.poll() is not None
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                pytest.fail("the process did not end")
            time.sleep(0.01)
        code = os.waitstatus_to_exitcode(raw) if self.use_pty else self.proc.returncode
        for t in self.readers:
            t.join(5)
        if self.use_pty and self.master is not None:
            os.close(self.master)
        out = self.buffers["out"].decode("utf-8", "replace")
        err = self.buffers["err"].decode("utf-8", "replace")
        return Outcome(128 - code if code < 0 else code, code < 0, out, err, bytes(self.buffers["out"]))


class SignalBench:
    """A home, a working folder and a simulator folder for one test; runs the console scripts."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.home = tmp_path / "home"
        self.work = tmp_path / "work"
        self.state = tmp_path / "sim"
        (self.home / ".particle").mkdir(parents=True)
        self.work.mkdir()
        self.write_config({"flashWarningShownOn": 1})

    def write_config(self, values: dict) -> None:
        (self.home / ".particle" / "particle.config.json").write_text(json.dumps(values))

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTICLE_PY_", "PYTEST", "COV_"))}
        env.update(HOME=str(self.home), XDG_DATA_HOME=str(self.tmp / "data"), XDG_CACHE_HOME=str(self.tmp / "cache"),
                   PARTICLE_PY_SIM=str(self.state), PYTHONUNBUFFERED="1", TERM="dumb")
        env.update(extra)
        return env

    def create(self, *specs, knobs=None):
        from particle_py.sim.state import create_state
        create_state(self.state, list(specs), knobs or {})

    def set_knobs(self, **knobs):
        """Change the bus-wide fault knobs of the existing folder (devices keep their flash)."""
        from particle_py.sim import knobs as knobs_mod
        from particle_py.sim.bus import SimBus
        bus = SimBus.load(self.state)
        bus.knobs = knobs_mod.normalize(knobs)
        for dev in bus.devices():
            dev.knobs = {**bus.knobs, **dev.profile.knobs}
        bus.save()

    def start(self, name, *args, use_pty=False, **env) -> Child:
        (self.state / "paused").unlink(missing_ok=True)
        return Child([script(name), *map(str, args)], self.env(**env), str(self.work), use_pty)

    def run(self, name, *args, use_pty=False, **env) -> Outcome:
        return self.start(name, *args, use_pty=use_pty, **env).wait()

    def run_interrupted(self, name, *args, sig=signal.SIGINT, use_pty=False, hang_up=False, **env) -> Outcome:
        """Run until the device pauses (PAUSE_AFTER), signal (or close the terminal: SIGHUP), let the
        device go on, return the outcome."""
        use_pty = use_pty or hang_up
        child = self.start(name, *args, use_pty=use_pty, **env)
        paused = self.state / "paused"
        deadline = time.monotonic() + GUARD_S
        while not paused.exists():
            if (child.proc.poll() is not None) if not use_pty else False:
                pytest.fail("the process ended before the device paused:\n" + child.wait().err)
            if time.monotonic() > deadline:
                os.kill(child.pid, signal.SIGKILL)
                pytest.fail("the device never paused")
            time.sleep(0.005)
        if hang_up:
            child.hang_up()
            sig = signal.SIGHUP
        else:
            child.interrupt(sig)
        wait_pending(child.pid, sig)    # held by the paused transfer: it acts when the transfer ends
        paused.unlink()
        return child.wait()

    def bus(self):
        from particle_py.sim.bus import SimBus
        return SimBus.load(self.state)

    def peek(self, alt, address, length, index=0) -> bytes:
        return self.bus().devices()[index].memory(alt).peek(address, length)

    def poke(self, alt, address, data, index=0) -> None:
        bus = self.bus()
        bus.devices()[index].memory(alt).poke(address, data)
        bus.save()

    def log(self):
        from particle_py.sim.bus import read_log
        return read_log(self.state)

    def clear_log(self):
        (self.state / "log.jsonl").unlink(missing_ok=True)


def wait_pending(pid: int, sig: int) -> None:
    """Until ``sig`` is pending (blocked) in the process: a typed ^C reaches it through the tty
    layer a moment after the write; /proc tells when it has."""
    bit = 1 << (sig - 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
        if (int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)) & bit:
            return
        time.sleep(0.002)
    threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
    pytest.fail(f"signal {sig} never became pending in process {pid} ({threads} threads: another thread may "
                "have taken it)")


def class_requests(log, request):
    """The class requests with bRequest ``request`` in a wire log, in order."""
    return [e for e in log if e.get("event") == "control" and e["bmRequestType"] & 0x60 == 0x20
            and e["bRequest"] == request]


def no_traceback(*texts):
    for text in texts:
        assert "Traceback" not in text and "Fatal Python error" not in text, text
