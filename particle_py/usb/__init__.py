"""Device discovery and the libusb backend choice (Contract 2 in docs/ARCHITECTURE.md).

``get_backend()`` returns the simulator's pyusb backend when ``PARTICLE_PY_SIM`` names a
simulator folder, else libusb from libusb-package, else the system libusb, else raises a
ParticlePyError saying how to get one. pyusb is imported lazily so CLI start-up stays fast.
The same switch hands ``serial_link`` the simulated devices' serial ports
(``simulator_serial_backend``): this module is the one place client code reaches the simulator.
"""
from __future__ import annotations

import os
import time
from typing import Optional

from particle_py.errors import ParticlePyError

SIM_ENV = "PARTICLE_PY_SIM"
# "system": skip libusb-package and use the operating system's libusb (the one the real dfu-util
# uses; on Linux it has udev hotplug, which re-enumeration under umockdev needs)
LIBUSB_ENV = "PARTICLE_PY_LIBUSB"

_sim_backends: dict = {}      # state folder -> SimBackend: one in-memory bus per folder per process
_sim_serial_backends: dict = {}   # state folder -> SimSerialBackend, on that folder's bus


def simulator_dir() -> Optional[str]:
    value = os.environ.get(SIM_ENV)
    return os.path.abspath(value) if value else None


def _sim_backend(state_dir: str):
    backend = _sim_backends.get(state_dir)
    if backend is None:
        from particle_py.sim.pyusb_backend import SimBackend
        backend = _sim_backends[state_dir] = SimBackend(state_dir)
    return backend


def _require_simulator(state_dir: str, example: str) -> None:
    if state_dir not in _sim_backends and os.path.exists(state_dir) and not os.path.isdir(state_dir):
        raise ParticlePyError(f"{SIM_ENV} names {state_dir}, a file, not a simulator folder",
                              f"Point it at a folder (particle-sim create {example} --state DIR makes one), or "
                              f"unset {SIM_ENV} to use real devices.")
    if state_dir not in _sim_backends and not os.path.exists(os.path.join(state_dir, "state.json")):
        raise ParticlePyError(f"{SIM_ENV} is set, but {state_dir} holds no simulated devices",
                              f"Create some (particle-sim create {example}), or unset " + SIM_ENV
                              + " to use real devices.")


def release_device(dev) -> None:
    """Give back everything pyusb holds for a device (interfaces, the handle); never raises,
    because it runs on paths that are already reporting something else."""
    import usb.util

    try:
        usb.util.dispose_resources(dev)
    except Exception:
        pass


def get_backend():
    """The pyusb backend to use; ParticlePyError (with the fix) if there is none."""
    state_dir = simulator_dir()
    if state_dir:
        _require_simulator(state_dir, "photon")
        return _sim_backend(state_dir)
    backend = None
    try:
        if os.environ.get(LIBUSB_ENV, "").lower() != "system":
            backend = _bundled_libusb_backend()
    except Exception:          # a broken or missing wheel falls through to the system libusb
        backend = None
    if backend is None:
        try:
            import usb.backend.libusb1
            backend = usb.backend.libusb1.get_backend()
        except Exception:
            backend = None
    if backend is None:
        from particle_py.usb.hints import no_backend_hint
        raise ParticlePyError("No libusb backend: particle-py cannot talk to USB devices", no_backend_hint())
    return backend


def _bundled_libusb_backend():
    """libusb-package's libusb. Its __init__ imports importlib_resources and more (~30 ms of
    every `dfu-util -l`), so the library file is found next to the package instead; a zipped
    or unusual install goes through libusb_package itself."""
    from particle_py.usb.lean import bundled_libusb_path

    path = bundled_libusb_path()
    if path and os.path.isfile(path):
        import usb.backend.libusb1
        return usb.backend.libusb1.get_backend(find_library=lambda _name: path)
    import libusb_package
    return libusb_package.get_libusb1_backend()


def find_devices(**match) -> list:
    """Every attached USB device matching pyusb ``find`` criteria (idVendor=..., custom_match=...)."""
    import usb.core
    return list(usb.core.find(find_all=True, backend=get_backend(), **match))


def sleep_ms(ms: float) -> None:
    """Wait ``ms`` milliseconds: for real on hardware, in modelled time on the simulator."""
    state_dir = simulator_dir()
    if state_dir:
        _sim_backend(state_dir).sleep_ms(int(ms))
        return
    if ms > 0:
        time.sleep(ms / 1000.0)


def simulator_serial_backend():
    """The simulated devices' serial port backend (docs/serial.md) under PARTICLE_PY_SIM, on the
    same bus as the USB backend; None on real hardware."""
    state_dir = simulator_dir()
    if not state_dir:
        return None
    backend = _sim_serial_backends.get(state_dir)
    if backend is None:
        _require_simulator(state_dir, "photon-normal")
        from particle_py.sim.serial_port_backend import SimSerialBackend
        backend = _sim_serial_backends[state_dir] = SimSerialBackend(_sim_backend(state_dir))
    return backend


def release_simulator() -> None:
    """Save and forget the simulator buses of this process (tests that rebuild a folder call it)."""
    for backend in _sim_backends.values():
        backend.save()
    _sim_backends.clear()
    _sim_serial_backends.clear()


_LIBUSB_NAMES = {
    -1: "LIBUSB_ERROR_IO", -2: "LIBUSB_ERROR_INVALID_PARAM", -3: "LIBUSB_ERROR_ACCESS",
    -4: "LIBUSB_ERROR_NO_DEVICE", -5: "LIBUSB_ERROR_NOT_FOUND", -6: "LIBUSB_ERROR_BUSY",
    -7: "LIBUSB_ERROR_TIMEOUT", -8: "LIBUSB_ERROR_OVERFLOW", -9: "LIBUSB_ERROR_PIPE",
    -10: "LIBUSB_ERROR_INTERRUPTED", -11: "LIBUSB_ERROR_NO_MEM", -12: "LIBUSB_ERROR_NOT_SUPPORTED",
    -99: "LIBUSB_ERROR_OTHER",
}


def libusb_code(exc: BaseException) -> Optional[int]:
    """The libusb error code behind a pyusb exception (NotImplementedError = NOT_SUPPORTED)."""
    if isinstance(exc, NotImplementedError):
        return -12
    return getattr(exc, "backend_error_code", None)


def error_from(exc: BaseException, action: str = "access the USB device", vid: Optional[int] = None,
               pid: Optional[int] = None, platform: Optional[str] = None):
    """A UsbError (message, libusb name, and the fix for this system) for a pyusb failure."""
    from particle_py.errors import UsbError
    from particle_py.usb import hints

    code = libusb_code(exc)
    name = _LIBUSB_NAMES.get(code, "LIBUSB_ERROR_OTHER" if code is not None else "LIBUSB_ERROR_IO")
    which = f" {vid:04x}:{pid:04x}" if vid is not None and pid is not None else ""
    return UsbError(f"Cannot {action}{which} ({name})", name, hints.hint_for_error(code, vid, pid, platform),
                    libusb_code=code)
