"""Simulated devices' serial ports as ttys under umockdev (for the real particle-cli).

umockdev emulates a tty device with a pty: a program that opens /dev/ttyACM0 inside the
testbed gets the slave end, and the bridge process holds the master end. Here every
normal-mode device on the bridge's bus gets such a tty (its parent is the USB device, like a
CDC ACM interface), served from the device model (sim/serial.py) on the bridge's tick: host
bytes in, device bytes out, and the line speed read back from the pty so that 14400 and
28800 baud do what they do on hardware.

particle-cli lists ports with `udevadm info -e` (serialport's Linux lister), which reads the
udev database of the real system, not the testbed's; ``write_udevadm`` writes a small
stand-in that prints the testbed's tty entries in udevadm's export format, and the bridge
puts it first on the child's PATH.

Stdlib only, plus the bridge's GObject testbed.
"""
from __future__ import annotations

import array
import fcntl
import os
import struct
import termios

from .serial import DeviceSerial, PortGone, serial_devices

TCGETS2 = 0x802C542A          # Linux asm-generic: _IOR('T', 0x2A, struct termios2)
BOTHER = 0o010000
CBAUD = 0o010017
STANDARD_SPEEDS = {getattr(termios, f"B{n}"): n for n in (300, 1200, 2400, 4800, 9600, 19200, 38400, 57600,
                                                          115200, 230400) if hasattr(termios, f"B{n}")}


def line_speed(fd: int):
    """The output speed the host set on the pty (custom rates through termios2/BOTHER)."""
    try:
        buf = array.array("B", bytes(44))
        fcntl.ioctl(fd, TCGETS2, buf, True)
        c_cflag = struct.unpack_from("<I", buf, 8)[0]
        if c_cflag & CBAUD == BOTHER:
            return struct.unpack_from("<I", buf, 40)[0]
        return STANDARD_SPEEDS.get(c_cflag & CBAUD)
    except OSError:
        try:
            return STANDARD_SPEEDS.get(termios.tcgetattr(fd)[5])
        except termios.error:
            return None


class TtyPorts:
    def __init__(self, bridge):
        self.bridge = bridge
        self.ports: dict = {}        # unit -> {"dev", "syspath", "fd", "end", "speed", "name"}
        self.names_used = 0
        self.bin_dir = os.path.join(bridge.root, "particle-py-bin")
        self.db_path = os.path.join(bridge.root, "particle-py-udev-export")
        write_udevadm(self.bin_dir, self.db_path)
        self.sync()

    def _uevent_text(self, name: str, dev, usb_syspath: str) -> str:
        serial = dev.serial or ""
        return (f"P: {usb_syspath[len('/sys'):] if usb_syspath.startswith('/sys') else usb_syspath}"
                f"/{dev.bus}-{dev.port_numbers[-1]}:1.0/tty/{name}\n"
                f"N: {name}\n"
                f"E: DEVNAME=/dev/{name}\n"
                "E: SUBSYSTEM=tty\n"
                f"E: ID_VENDOR_ID={dev.vid:04x}\n"
                f"E: ID_MODEL_ID={dev.pid:04x}\n"
                f"E: ID_SERIAL_SHORT={serial}\n"
                f"E: ID_VENDOR_ENC={dev.description.manufacturer or ''}\n"
                f"E: DEVLINKS=/dev/serial/by-id/usb-{dev.description.manufacturer or 'Particle'}_"
                f"{(dev.description.product or '').replace(' ', '_')}_{serial}-if00\n"
                "A: dev=166:0\n")

    def remove_for(self, dev) -> None:
        """Take away the tty of a device that is leaving the bus, before its USB parent goes: the
        testbed removes a device's own class link only, so a tty left under a removed parent
        would keep /sys/class/tty/<name> and its name could never be used again."""
        for unit in [u for u, port in self.ports.items() if port["dev"] is dev]:
            self._remove(unit)

    def _remove(self, unit) -> None:
        port = self.ports.pop(unit)
        if os.path.isdir(os.path.join(self.bridge.root, port["syspath"].lstrip("/"))):
            self.bridge.testbed.uevent(port["syspath"], "remove")
            self.bridge.testbed.remove_device(port["syspath"])

    def _free_name(self) -> str:
        """A ttyACM name no port of this testbed has had. The kernel's cdc_acm would give a
        re-enumerated device the lowest free number again, but the testbed keeps the pty of a
        removed node under its name (re-adding that name aborts it), so each new port takes
        the next number; programs find ports by listing them, never by a fixed name."""
        name = f"ttyACM{self.names_used}"
        self.names_used += 1
        return name

    def sync(self) -> None:
        present = {dev.unit: dev for _path, dev in serial_devices(self.bridge.bus)}
        for unit in [u for u in self.ports if u not in present or self.ports[u]["dev"] is not present[u]]:
            self._remove(unit)
        for unit, dev in present.items():
            if unit in self.ports:
                continue
            usb = [v for v in self.bridge.attached.values() if v[0] is dev]
            if not usb:
                continue
            name = self._free_name()
            text = self._uevent_text(name, dev, usb[0][1])
            if not self.bridge.testbed.add_from_string(text):
                continue
            syspath = "/sys" + text.split("\n", 1)[0][3:]
            fd = self.bridge.testbed.get_dev_fd(f"/dev/{name}")
            if fd < 0:
                continue
            os.set_blocking(fd, False)
            self.ports[unit] = {"dev": dev, "syspath": syspath, "fd": fd, "name": name, "speed": None,
                                "end": DeviceSerial(dev, self.bridge.bus.state_dir), "text": text}
            self.bridge.testbed.uevent(syspath, "add")
        with open(self.db_path + ".tmp", "w", encoding="utf-8") as f:
            f.write(self.udevadm_export())
        os.replace(self.db_path + ".tmp", self.db_path)

    def poll(self) -> None:
        """Move bytes both ways and act on line-speed changes (from the bridge's tick)."""
        for unit, port in list(self.ports.items()):
            end, fd = port["end"], port["fd"]
            try:
                speed = line_speed(fd)
                if speed and speed != port["speed"]:
                    port["speed"] = speed
                    end.set_baud(speed)
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):      # EIO: no program has the tty open
                    data = b""
                if data:
                    end.write(data)
                out = end.read()
                if out:
                    os.write(fd, out)
            except (PortGone, OSError):
                pass

    def udevadm_export(self) -> str:
        return "\n".join(port["text"].replace("A: dev=166:0\n", "") for port in self.ports.values()) + "\n"


UDEVADM = """#!/bin/sh
# particle-py umockdev bridge: the testbed's serial ports in `udevadm info -e` format
[ "$1" = "info" ] && [ "$2" = "-e" ] && cat "{db}" && exit 0
echo "udevadm stand-in: only 'info -e' is emulated" >&2
exit 1
"""


def write_udevadm(bin_dir: str, db_path: str) -> None:
    os.makedirs(bin_dir, exist_ok=True)
    path = os.path.join(bin_dir, "udevadm")
    with open(path, "w", encoding="utf-8") as f:
        f.write(UDEVADM.format(db=db_path))
    os.chmod(path, 0o755)
