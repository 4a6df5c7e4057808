"""The simulated USB bus: attached devices, re-enumeration, persistence, modelled time.

A PARTICLE_PY_SIM folder holds:
  state.json          devices in attach order (profile, board unit, bus/ports/devnum, protocol
                      state, device time), the bus-wide fault knobs, the modelled clock
  unit<N>-alt<A>.bin  the flash behind DFU alt A of board N (written only once touched)
  unit<N>-image.bin   a plain DFU device's firmware image
  log.jsonl           one JSON object per control transfer / device event, appended on save
  .lock               taken around every read and write of the folder

Each read and each write holds an exclusive file lock, and files are replaced atomically, so
two processes never see a torn state; the last writer wins (two programs driving the same
simulated board at the same moment is not a case worth modelling). SIGINT, SIGTERM and SIGHUP
are held back (POSIX) while the lock's bookkeeping changes and while a save writes the folder:
a Ctrl-C there would leave a lock taken by a descriptor nobody knows (the next lock in the same
process then waits for ever) or flash files that disagree with state.json.
Stdlib only.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Optional

from particle_py.errors import ParticlePyError

from . import knobs as knobs_mod
from . import profiles as profiles_mod
from .device import SimDevice, make_device
from .signals import signals_held

STATE_FILE = "state.json"
LOG_FILE = "log.jsonl"
LOCK_FILE = ".lock"
FIRST_PORT = 2
FIRST_DEVNUM = 5
HUB_FULL_ERROR = -11             # LIBUSB_ERROR_NO_MEM: the host controller has no room for one more


EX_DATAERR = 65


class DamagedState(ParticlePyError):
    """A simulator folder whose state.json cannot be read back (cut short, edited, not ours)."""


def damaged(state_dir: str, why: str) -> DamagedState:
    return DamagedState(f"The simulator state in {state_dir} is damaged: {why}",
                        "Make its devices again, which replaces them: particle-sim create photon --state "
                        f"{state_dir} (with the platforms you want); or point PARTICLE_PY_SIM at another folder.",
                        EX_DATAERR)


def _state_problem(data) -> Optional[str]:
    """Why a parsed state.json cannot be a bus, or None."""
    if not isinstance(data, dict):
        return f"{STATE_FILE} does not hold a JSON object"
    for key in ("clock_us", "next_unit", "next_port", "generation", "next_devnum"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int)):
            return f"{STATE_FILE} has a {key} that is not a number"
    if not isinstance(data.get("knobs", {}), dict) or not isinstance(data.get("arriving", []), list) \
            or not isinstance(data.get("unit_knobs", {}), dict) \
            or not all(isinstance(v, dict) for v in data.get("unit_knobs", {}).values()):
        return f"{STATE_FILE} has fault knobs or arrivals of the wrong shape"
    devices = data.get("devices", [])
    if not isinstance(devices, list):
        return f"{STATE_FILE} has no device list"
    for rec in devices:
        if not (isinstance(rec, dict) and isinstance(rec.get("spec"), str) and isinstance(rec.get("unit"), int)
                and isinstance(rec.get("devnum"), int) and isinstance(rec.get("ports"), list)
                and all(isinstance(p, int) for p in rec["ports"]) and isinstance(rec.get("state", {}), dict)):
            return f"a device record in {STATE_FILE} is incomplete"
    return None


_held: dict = {}                 # lock file path -> (fd, depth): re-entrant within a process
_held_guard = threading.RLock()
_thread_locks: dict = {}         # lock file path -> RLock: one thread of this process at a time
def _acquire(fd: int) -> None:
    if os.name == "nt":
        import msvcrt
        os.lseek(fd, 0, 0)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:          # LK_LOCK gives up after ~10 s; keep waiting
                continue
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX)


def _release(fd: int) -> None:
    if os.name == "nt":
        import msvcrt
        try:
            os.lseek(fd, 0, 0)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
    os.close(fd)


@contextlib.contextmanager
def locked(state_dir: str):
    """Exclusive lock on a state folder (fcntl on POSIX, msvcrt on Windows). Re-entrant in one
    process, so ``SimBus.session`` can hold it around a load and a save."""
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.abspath(os.path.join(state_dir, LOCK_FILE))
    # the file lock is the process's; threads of one process (a batch on many devices) take
    # turns on this one, so two threads never write the folder at once
    with _held_guard:
        in_process = _thread_locks.setdefault(path, threading.RLock())
    with in_process, _locked_file(path):
        yield


@contextlib.contextmanager
def _locked_file(path: str):
    with _held_guard:
        if path in _held:
            with signals_held():
                fd, depth = _held[path]
                _held[path] = (fd, depth + 1)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _acquire(fd)        # waiting for another process stays interruptible
                _held[path] = (fd, 1)
            except BaseException:   # interrupted while waiting or just after: the lock goes with fd
                if _held.get(path, (None,))[0] == fd:
                    del _held[path]
                os.close(fd)
                raise
    try:
        yield
    finally:
        with _held_guard, signals_held():
            fd, depth = _held[path]
            if depth > 1:
                _held[path] = (fd, depth - 1)
            else:
                del _held[path]
                _release(fd)


def _write_atomic(path: str, text: str) -> None:
    from .private import write_private
    write_private(path, text.encode("utf-8"))           # it holds the folder's token


class SimBus:
    def __init__(self, state_dir: Optional[str] = None, knobs: Optional[dict] = None):
        self.state_dir = os.fspath(state_dir) if state_dir is not None else None
        self.knobs = knobs_mod.normalize(knobs or {})
        self._devices: list[SimDevice] = []
        self.next_devnum = FIRST_DEVNUM
        self.next_port = FIRST_PORT
        self.next_unit = 0
        self.clock_us = 0
        self._log_saved: dict = {}          # id(device) -> entries already written to log.jsonl
        self.generation = 0
        self.token: Optional[str] = None     # changes with every save: "has someone else written?"
        self.arriving: list = []             # devices that left and come back later (REENUM_DELAY_MS)
        self.second_device_added = False     # SECOND_DEVICE_AFTER plugs in one board, once
        self._guard = threading.RLock()      # threads working on several devices share the bus
        self.unit_knobs: dict = {}           # board unit -> its own fault knobs (kept across re-enumeration)

    # --- devices ---------------------------------------------------------------------
    def attach(self, spec: str, *, unit: Optional[int] = None, port: Optional[int] = None,
               memories: Optional[dict] = None, position: Optional[int] = None) -> SimDevice:
        """Plug a device in (a new board unless ``unit`` is given) and return it."""
        if unit is None:
            unit = self.next_unit
            self.next_unit += 1
        profile = profiles_mod.build(spec, unit)
        if port is None:
            port = self.next_port
            self.next_port += 1
        index = len(self._devices) if position is None else position
        dev = make_device(profile, bus=1, port_numbers=self.port_path(port), devnum=self.next_devnum, unit=unit,
                          knobs=self.device_knobs(index, unit), memories=memories, state_dir=self.state_dir)
        self.next_devnum += 1
        if position is None:
            self._devices.append(dev)
        else:
            self._devices.insert(position, dev)
        return dev

    def port_path(self, port) -> tuple:
        """The port numbers of the n-th port handed out: (n,) on the root hub; with the HUB_PORTS
        knob, hubs of that many ports on root ports 1, 2, ... (1-1.1 ... 1-1.7, 1-2.1 ...). A list
        or tuple is a path already (a board coming back where it was)."""
        if isinstance(port, (list, tuple)):
            return tuple(port)
        hub = knobs_mod.value(self.knobs, "HUB_PORTS")
        if not hub:
            return (port,)
        n = port - FIRST_PORT
        return (1 + n // hub, 1 + n % hub)

    def device_knobs(self, index: int, unit: Optional[int] = None) -> dict:
        """The fault knobs of the device at ``index`` on the bus: the bus's, the board's own
        (``unit_knobs``), and with HUB_FULL=N every device after the N-th fails to open (the hub
        has no room left for it)."""
        knobs = dict(self.knobs, **self.unit_knobs.get(str(unit), {}))
        full = knobs_mod.value(self.knobs, "HUB_FULL")
        if full is not None and index >= full:
            knobs["OPEN_FAIL"] = HUB_FULL_ERROR
        return knobs

    def set_unit_knobs(self, unit: int, knobs: dict) -> None:
        """Faults of one board (UNPLUG_AFTER on the fifth of thirty): every enumeration of it has them."""
        self.unit_knobs[str(unit)] = knobs_mod.normalize(knobs)

    def devices(self) -> list[SimDevice]:
        """Attached devices in attach order; devices that left are replaced by their successors."""
        with self._guard:
            return self._devices_now()

    def _devices_now(self) -> list[SimDevice]:
        for i, dev in enumerate(list(self._devices)):
            if dev.second_device_due and not self.second_device_added:
                self.second_device_added = True
                self.attach(_without_id(dev.profile.spec or dev.profile.name))
            if not dev.gone:
                continue
            self._flush_log(dev)
            if self.state_dir:
                dev.save_memories()         # an unplugged board keeps its flash for when it comes back
            position = self._devices.index(dev)
            self._devices.remove(dev)
            if dev.successor:
                port = None if knobs_mod.value(self.knobs, "REENUM_NEW_PORT") else list(dev.port_numbers)
                due_us = self.clock_us + 1000 * knobs_mod.value(self.knobs, "REENUM_DELAY_MS", 0)
                self.arriving.append({"spec": dev.successor, "unit": dev.unit, "port": port,
                                      "position": position, "due_us": due_us,
                                      "memories": dev.memories})
        for rec in list(self.arriving):
            if rec["due_us"] <= self.clock_us:
                self.arriving.remove(rec)
                self.attach(rec["spec"], unit=rec["unit"], port=rec["port"], memories=rec.get("memories"),
                            position=min(rec["position"], len(self._devices)))
        return list(self._devices)

    def find(self, path: Optional[str] = None, devnum: Optional[int] = None) -> Optional[SimDevice]:
        for dev in self.devices():
            if (path is None or dev.path == path) and (devnum is None or dev.devnum == devnum):
                return dev
        return None

    def sleep_ms(self, ms: int) -> None:
        """Advance modelled host time (no wall-clock sleep)."""
        self.clock_us += int(ms) * 1000

    # --- persistence -----------------------------------------------------------------
    @classmethod
    def load(cls, state_dir) -> "SimBus":
        state_dir = os.fspath(state_dir)
        with locked(state_dir):
            path = os.path.join(state_dir, STATE_FILE)
            if not os.path.exists(path):
                raise FileNotFoundError(f"no simulator state in {state_dir} (create it with create_state)")
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
            except (ValueError, RecursionError):        # UnicodeDecodeError is a ValueError
                raise damaged(state_dir, f"{STATE_FILE} is not complete JSON") from None
            except IsADirectoryError:
                raise damaged(state_dir, f"{STATE_FILE} is a folder") from None
        problem = _state_problem(data)
        if problem:
            raise damaged(state_dir, problem)
        try:
            return cls._from_state(state_dir, data)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            # a record of the right shape holding values no device has (a spec, a board state)
            raise damaged(state_dir, f"a device in {STATE_FILE} cannot be rebuilt ({type(exc).__name__})") from None

    @classmethod
    def _from_state(cls, state_dir: str, data: dict) -> "SimBus":
        bus = cls(state_dir, data.get("knobs", {}))
        bus.clock_us = data.get("clock_us", 0)
        bus.next_unit = data.get("next_unit", 0)
        bus.next_port = data.get("next_port", FIRST_PORT)
        bus.generation = data.get("generation", 0)
        bus.token = data.get("token")
        bus.arriving = data.get("arriving", [])
        bus.second_device_added = data.get("second_device_added", False)
        bus.unit_knobs = {str(k): knobs_mod.normalize(v) for k, v in data.get("unit_knobs", {}).items()}
        for index, rec in enumerate(data.get("devices", [])):
            profile = profiles_mod.build(rec["spec"], rec["unit"])
            dev = make_device(profile, bus=rec.get("bus", 1), port_numbers=tuple(rec["ports"]),
                              devnum=rec["devnum"], unit=rec["unit"], knobs=bus.device_knobs(index, rec["unit"]),
                              state_dir=state_dir)
            dev.device_time_us = rec.get("device_time_us", 0)
            dev.flash_time_us = rec.get("flash_time_us", 0)
            dev.restore(rec.get("state", {}))
            bus._devices.append(dev)
        bus.next_devnum = data.get("next_devnum", FIRST_DEVNUM + len(bus._devices))
        return bus

    @classmethod
    @contextlib.contextmanager
    def session(cls, state_dir):
        """Load, hand out, and save the bus while holding the folder's lock throughout, so no
        other process changes it in between (for read-modify-write tools like particle-sim)."""
        state_dir = os.fspath(state_dir)
        with locked(state_dir):
            bus = cls.load(state_dir)
            yield bus
            bus.save()

    def _flush_log(self, dev: SimDevice) -> None:
        if not self.state_dir:
            return
        done = self._log_saved.get(id(dev), 0)
        new = dev.log[done:]
        if not new:
            return
        # owner-only: the log holds the bytes of every transfer, keys written to the DCT among them
        fd = os.open(os.path.join(self.state_dir, LOG_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            for entry in new:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
        self._log_saved[id(dev)] = len(dev.log)

    def save(self) -> None:
        """Write devices, flash, knobs and the new log entries back to the folder."""
        if not self.state_dir:
            return
        with self._guard, signals_held(), locked(self.state_dir):
            devices = self.devices()
            for dev in devices:
                dev.save_memories()
                self._flush_log(dev)
            self.generation += 1
            self.token = os.urandom(8).hex()
            _tokens_written.add(self.token)
            _latest_token[os.path.abspath(self.state_dir)] = self.token
            data = {
                "version": 1,
                "generation": self.generation,
                "token": self.token,
                "knobs": self.knobs,
                "clock_us": self.clock_us,
                "next_devnum": self.next_devnum,
                "next_port": self.next_port,
                "next_unit": self.next_unit,
                "arriving": [{k: v for k, v in rec.items() if k != "memories"} for rec in self.arriving],
                "second_device_added": self.second_device_added,
                "unit_knobs": self.unit_knobs,
                "devices": [{
                    "spec": dev.profile.spec, "unit": dev.unit, "bus": dev.bus, "ports": list(dev.port_numbers),
                    "devnum": dev.devnum, "state": dev.state(), "device_time_us": dev.device_time_us,
                    "flash_time_us": dev.flash_time_us,
                } for dev in devices],
            }
            _write_atomic(os.path.join(self.state_dir, STATE_FILE), json.dumps(data, indent=1, sort_keys=True))


def _without_id(spec: str) -> str:
    """A profile string for another board of the same kind (its own default id)."""
    name, _, options = spec.partition(":")
    keep = [o for o in options.replace(",", ":").split(":") if o and not o.startswith("id=")]
    return ":".join([name] + keep)


def read_log(state_dir) -> list:
    """Every logged control transfer and device event of a state folder, oldest first."""
    path = os.path.join(os.fspath(state_dir), LOG_FILE)
    if not os.path.exists(path):
        return []
    with locked(os.fspath(state_dir)):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def state_token(state_dir) -> Optional[str]:
    """The token of the last save in a state folder (None if there is none)."""
    path = os.path.join(os.fspath(state_dir), STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            token = json.load(f).get("token")
    except (OSError, ValueError):
        return None
    # A token this process wrote means no other process has written since: the answer is the
    # newest one saved here, even while a save in another thread is between setting it and
    # replacing the file (else a reader would reload the bus under that thread's devices).
    if token in _tokens_written:
        return _latest_token.get(os.path.abspath(os.fspath(state_dir)), token)
    return token


_tokens_written: set = set()     # tokens of the saves made by this process
_latest_token: dict = {}         # state folder -> the token of this process's newest save there
