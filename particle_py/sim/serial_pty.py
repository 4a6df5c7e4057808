"""Serve a simulated device's serial port on a pseudo-terminal (POSIX), for any serial tool.

    python -m particle_py.sim.serial_pty --state DIR [--unit N]

prints the pty's path (e.g. /dev/pts/5) and serves the device model until interrupted:
screen, minicom, pyserial or particle-py's own transport can open that path and speak the
listening-mode protocol with the device of ``--unit`` (board number; default the first
normal-mode device). The state folder is reloaded whenever another process has saved it, and
saved after every change the port makes, so `particle usb start-listening` in another
terminal and the pty agree. Under umockdev the bridge gives ttys of its own
(sim/serial_umockdev.py). Stdlib only.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
import threading
from typing import Optional

from .bus import SimBus, locked, state_token
from .serial import DeviceSerial, PortGone, serial_devices
from .serial_umockdev import line_speed


class PtyServer:
    def __init__(self, state_dir: str, unit: Optional[int] = None):
        import pty
        import tty

        self.state_dir = os.fspath(state_dir)
        self.bus = SimBus.load(self.state_dir)
        devices = [dev for _path, dev in serial_devices(self.bus)]
        chosen = [d for d in devices if unit is None or d.unit == unit]
        if not chosen:
            raise SystemExit(f"serial_pty: no device with a serial port{'' if unit is None else f' (unit {unit})'}"
                             f" in {self.state_dir}")
        self.end = DeviceSerial(chosen[0], self.state_dir)
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)                # no echo, no line editing: a CDC port passes bytes
        self.path = os.ttyname(self.slave)
        self.speed = line_speed(self.master)
        self.stop = threading.Event()

    def _refresh(self) -> bool:
        """Reload the bus if someone else saved it; False when the device has left."""
        if state_token(self.state_dir) != self.bus.token:
            self.bus = SimBus.load(self.state_dir)
        return self.end.follow(self.bus)

    def _save(self) -> None:
        with locked(self.state_dir):
            self.bus.save()

    def step(self, timeout_s: float = 0.02) -> bool:
        if not self._refresh():
            return False
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        try:
            speed = line_speed(self.master)
            if speed and speed != self.speed:
                self.speed = speed
                self.end.set_baud(speed)
                self._save()
            if ready:
                data = os.read(self.master, 4096)
                if data:
                    self.end.write(data)
                    self._save()
            out = self.end.read()
            if out:
                os.write(self.master, out)
        except PortGone:
            self._save()
            return False
        except OSError:
            pass
        return True

    def serve(self) -> None:
        while not self.stop.is_set() and self.step():
            pass

    def close(self) -> None:
        self.stop.set()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m particle_py.sim.serial_pty")
    parser.add_argument("--state", required=True, help="simulator folder (PARTICLE_PY_SIM)")
    parser.add_argument("--unit", type=int, help="board number (default: the first device with a port)")
    opts = parser.parse_args(argv)
    server = PtyServer(opts.state, opts.unit)
    print(server.path, flush=True)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
