"""Show simulated devices to the real libusb through umockdev's usbdevfs emulation.

Runs under ``umockdev-wrapper /usr/bin/python3`` (PyGObject has no wheels, so this is the
system Python that has ``gi``); ``scripts/umockdev-run`` starts it. The device model is the
stdlib-only ``particle_py.sim`` model, running *inside this handler process*: one copy of
the device behaviour, no second implementation and no socket protocol to keep in step.

The wrapped COMMAND (and its children) inherit umockdev's LD_PRELOAD and UMOCKDEV_DIR, so
their libusb finds the devices in the fake /sys and /dev. Every usbdevfs ioctl they make on a
device node arrives here (``UsbDevfs.do_handle_ioctl``) and becomes a call on the model.
After every call the testbed is brought in line with ``bus.devices()``, which is how a
DETACH / DFU_MODE / leave / reset re-enumeration shows up to libusb (remove + add uevents).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

# --- usbdevfs ioctl numbers (linux/usbdevice_fs.h, x86_64/aarch64 64-bit struct sizes) -----


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("U") << 8) | nr


_IOR = lambda nr, size: _ioc(2, nr, size)  # noqa: E731
_IOW = lambda nr, size: _ioc(1, nr, size)  # noqa: E731
_IOWR = lambda nr, size: _ioc(3, nr, size)  # noqa: E731
_IO = lambda nr: _ioc(0, nr, 0)  # noqa: E731

URB_SIZE = 56
CONTROL = _IOWR(0, 24)
SETINTERFACE = _IOR(4, 8)
SETCONFIGURATION = _IOR(5, 4)
GETDRIVER = _IOW(8, 260)
SUBMITURB = _IOR(10, URB_SIZE)
DISCARDURB = _IO(11)
REAPURB = _IOW(12, 8)
REAPURBNDELAY = _IOW(13, 8)
CLAIMINTERFACE = _IOR(15, 4)
RELEASEINTERFACE = _IOR(16, 4)
CONNECTINFO = _IOW(17, 8)
IOCTL = _IOWR(18, 16)
RESET = _IO(20)
CLEAR_HALT = _IOR(21, 4)
GET_CAPABILITIES = _IOR(26, 4)
DISCONNECT_CLAIM = _IOR(27, 264)
GET_SPEED = _IO(31)

URB_TYPE_CONTROL = 2

# A full-speed 7-port hub (the common Terminus FE1.1s) between the root port and the devices
# behind it: device descriptor, then its one configuration (hub interface, status endpoint).
HUB_VID, HUB_PID = 0x1A40, 0x0101
HUB_DEVNUM_TOP = 127            # hubs count down from the top: the simulator's devnums count up
HUB_DESCRIPTORS = (bytes([18, 1, 0x00, 0x02, 9, 0, 0, 64]) + struct.pack("<HHH", HUB_VID, HUB_PID, 0x0111)
                   + bytes([0, 1, 0, 1])
                   + bytes([9, 2, 25, 0, 1, 1, 0, 0xE0, 50])          # config: 25 bytes, self-powered
                   + bytes([9, 4, 0, 0, 1, 9, 0, 0, 0])               # interface: class 9 (hub)
                   + bytes([7, 5, 0x81, 3, 1, 0, 12]))                # interrupt IN status change
EAGAIN, EINVAL, ENODATA, ENOTTY, EPIPE, EPROTO, ENODEV, ENOENT, EIO = 11, 22, 61, 25, 32, 71, 19, 2, 5

# libusb error code the model raises -> the URB status the kernel would report for it, which
# libusb turns back into the same code (linux_usbfs.c handle_control_completion).
# -8: the device sent more than wLength (babble): -EOVERFLOW, which libusb reports as LIBUSB_ERROR_OVERFLOW.
_URB_STATUS_FOR_LIBUSB = {-9: -EPIPE, -4: -ENODEV, -5: -ENODEV, -1: -EPROTO, -8: -75}
# ... and the errno an ioctl fails with (op_reset_device: ENODEV -> LIBUSB_ERROR_NOT_FOUND).
_ERRNO_FOR_LIBUSB = {-1: EIO, -4: ENODEV, -5: ENODEV, -9: EPIPE, -3: 13, -6: 16, -7: 110}
LIBUSB_TIMEOUT = -7

USB_SPEED_FULL_MBPS = "12"
TICK_MS = 20   # how often devices due to appear (re-enumeration delays) are looked for


def _libusb_code(exc: Exception) -> int:
    code = getattr(exc, "code", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    return int(code) if code is not None else -1


class WireLog:
    """What crossed the wire, as JSON lines, for the differential tier (``--log FILE``)."""

    def __init__(self, path: str | None):
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, **entry) -> None:
        if self._file:
            self._file.write(json.dumps(entry, sort_keys=True) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()


class Bridge:
    """Keeps a umockdev Testbed in line with a SimBus and routes ioctls to its devices."""

    def __init__(self, bus, wire_log: WireLog):
        import gi

        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev

        self.UMockdev = UMockdev
        self.bus = bus
        self.log = wire_log
        self.testbed = UMockdev.Testbed.new()
        self.root = self.testbed.get_root_dir()
        self.attached: dict[int, tuple[object, str, str, object]] = {}  # id(dev) -> (dev, syspath, node, handler)
        self.hubs: dict[str, str] = {}         # devpath "1-1" -> syspath of the hub devices sit behind
        self.lock = threading.RLock()
        self._clock_at = time.monotonic()
        self.sync(initial=True)
        from particle_py.sim.serial_umockdev import TtyPorts
        self.ttys = TtyPorts(self)          # normal-mode devices' serial ports (sim/serial_umockdev.py)

    def advance_clock(self) -> None:
        """Modelled host time follows the wall clock here: the real client really sleeps (poll
        timeouts, -E, waiting for a device), and the model's delays (REENUM_DELAY_MS) count on it."""
        now = time.monotonic()
        elapsed_ms = int((now - self._clock_at) * 1000)
        if elapsed_ms > 0:
            self.bus.sleep_ms(elapsed_ms)
            self._clock_at += elapsed_ms / 1000

    def tick(self) -> bool:
        """Periodic: devices due to (re)appear do so even while no client sends requests."""
        with self.lock:
            self.advance_clock()
            self.sync()
            self.ttys.poll()
        return True

    # -- device presence ----------------------------------------------------------------
    @staticmethod
    def _devpath(dev) -> str:
        ports = tuple(getattr(dev, "port_numbers", ()) or ())
        return f"{dev.bus}-" + ".".join(str(p) for p in ports) if ports else f"usb{dev.bus}"

    def sync(self, initial: bool = False) -> None:
        """Remove vanished devices and add new ones, announcing both with uevents."""
        with self.lock:
            present = {id(d): d for d in self.bus.devices()}
            for key in [k for k in self.attached if k not in present]:
                dev, syspath, node, handler = self.attached.pop(key)
                handler.gone = True
                if hasattr(self, "ttys"):
                    self.ttys.remove_for(dev)      # the tty child first, as the kernel does
                if not initial:
                    self.testbed.uevent(syspath, "remove")
                self.testbed.remove_device(syspath)
                self.log.write(op="detach", dev=self._devpath(dev))
            for key, dev in present.items():
                if key not in self.attached:
                    self._add(dev, announce=not initial)
            if hasattr(self, "ttys"):
                self.ttys.sync()

    def _add(self, dev, announce: bool) -> None:
        desc = bytes(dev.descriptor_bytes())
        bcd_device = struct.unpack_from("<H", desc, 12)[0]
        num_configs = desc[17]
        bus, devnum = int(dev.bus), int(dev.devnum)
        devname = f"/dev/bus/usb/{bus:03d}/{devnum:03d}"
        minor = (bus - 1) * 128 + (devnum - 1)
        devpath = self._devpath(dev)
        parent = self._hub_for(bus, tuple(getattr(dev, "port_numbers", ()) or ()))
        syspath = self.testbed.add_device(
            "usb", devpath if parent else f"usb{bus}/{devpath}", parent,
            ["busnum", str(bus), "devnum", str(devnum), "idVendor", f"{dev.vid:04x}",
             "idProduct", f"{dev.pid:04x}", "bcdDevice", f"{bcd_device:04x}", "speed", USB_SPEED_FULL_MBPS,
             "bNumConfigurations", str(num_configs), "bConfigurationValue", "1",
             "devpath", devpath.split("-", 1)[-1], "dev", f"189:{minor}"],
            ["DEVNAME", devname, "DEVTYPE", "usb_device", "BUSNUM", f"{bus:03d}", "DEVNUM", f"{devnum:03d}",
             "PRODUCT", f"{dev.vid:x}/{dev.pid:x}/{bcd_device:x}", "MAJOR", "189", "MINOR", str(minor)])
        # libusb reads the device and configuration descriptors from this attribute
        self.testbed.set_attribute_binary(syspath, "descriptors", desc)
        node = os.path.join(self.root, devname.lstrip("/"))
        os.makedirs(os.path.dirname(node), exist_ok=True)
        if os.path.isdir(node):
            shutil.rmtree(node)
        open(node, "wb").close()  # add_device() makes no /dev node
        self._apply_open_failure(dev, node)
        handler = UsbDevfs(self, dev, devpath)
        self.testbed.attach_ioctl(devname, handler)
        self.attached[id(dev)] = (dev, syspath, node, handler)
        if announce:
            self.testbed.uevent(syspath, "add")
        self.log.write(op="attach", dev=devpath, vid=dev.vid, pid=dev.pid)

    def _hub_for(self, bus: int, ports: tuple):
        """The syspath of the hub a device on ``ports`` sits behind (made, with the hubs above
        it, the first time: a kernel lists each hub as a device of its own, and libusb builds
        a device's port path, 1-1.3, from its parents), or None on a root port. A hub stays
        when its devices leave, as a hub on a desk does."""
        parent = None
        for depth in range(1, len(ports)):
            devpath = f"{bus}-" + ".".join(map(str, ports[:depth]))
            if devpath not in self.hubs:
                devnum = HUB_DEVNUM_TOP - len(self.hubs)
                minor = (bus - 1) * 128 + devnum - 1
                self.hubs[devpath] = self.testbed.add_device(
                    "usb", devpath if parent else f"usb{bus}/{devpath}", parent,
                    ["busnum", str(bus), "devnum", str(devnum), "idVendor", f"{HUB_VID:04x}",
                     "idProduct", f"{HUB_PID:04x}", "bcdDevice", "0111", "speed", USB_SPEED_FULL_MBPS,
                     "bNumConfigurations", "1", "bConfigurationValue", "1", "bDeviceClass", "09",
                     "devpath", devpath.split("-", 1)[-1], "dev", f"189:{minor}"],
                    ["DEVNAME", f"/dev/bus/usb/{bus:03d}/{devnum:03d}", "DEVTYPE", "usb_device",
                     "BUSNUM", f"{bus:03d}", "DEVNUM", f"{devnum:03d}", "MAJOR", "189", "MINOR", str(minor)])
                self.testbed.set_attribute_binary(self.hubs[devpath], "descriptors", HUB_DESCRIPTORS)
                self.log.write(op="attach", dev=devpath, vid=HUB_VID, pid=HUB_PID)
            parent = self.hubs[devpath]
        return parent

    def _apply_open_failure(self, dev, node: str) -> None:
        """libusb opens the node itself, so an open failure has to be a real open() failure."""
        fault = (getattr(dev, "knobs", None) or {}).get("OPEN_FAIL")
        if fault in (None, ""):
            return
        code = int(fault)
        if code == -3:  # ACCESS: unreadable node (root gets CAP_DAC_OVERRIDE dropped, see main)
            os.chmod(node, 0)
        elif code == -4:  # NO_DEVICE: node gone
            os.unlink(node)
        else:  # anything else libusb reports as IO: opening a directory fails with EISDIR
            os.unlink(node)
            os.mkdir(node)

    def after_request(self) -> None:
        self.sync()


def _make_handler_class():
    import gi

    gi.require_version("UMockdev", "1.0")
    from gi.repository import UMockdev

    class _UsbDevfs(UMockdev.IoctlBase):
        def __init__(self, bridge: Bridge, dev, devpath: str):
            super().__init__()
            self.bridge, self.dev, self.devpath = bridge, dev, devpath
            # Per open file, as the kernel keeps them: a process with two handles on one device
            # (particle-py's `usb dfu --all` holds the next board while it finds the first one
            # again) must reap each URB on the fd it was submitted on, or libusb completes
            # another handle's transfer (heap corruption). A client object is one connection.
            self.completed: dict = {}   # client -> URBs done, waiting to be reaped
            self.pending: dict = {}     # client -> URBs that time out: only DISCARDURB completes them
            self.gone = False
            self.opened = False

        def do_client_vanished(self, client):
            self.completed.pop(client, None)
            self.pending.pop(client, None)

        def _done(self, client, ret: int = 0, err: int = 0) -> bool:
            client.complete(ret, err)
            return True

        def do_handle_ioctl(self, client):
            with self.bridge.lock:
                self.bridge.advance_clock()
                try:
                    return self._handle(client)
                finally:
                    if not self.gone:
                        self.bridge.after_request()

        def _handle(self, client):  # noqa: C901 - one branch per ioctl, kept flat on purpose
            req = client.get_request()
            arg = client.get_arg()
            log = self.bridge.log
            if req in (REAPURB, REAPURBNDELAY):
                completed = self.completed.get(client)
                if completed:
                    arg.resolve(0, 8).set_ptr(0, completed.pop(0))
                    return self._done(client)
                return self._done(client, -1, ENODEV if self.gone else EAGAIN)
            if self.gone:
                return self._done(client, -1, ENODEV)
            if req == GET_CAPABILITIES:
                # libusb asks this right after it opened the node: the model's open() runs here
                # (an open the model refuses was already made a real open() failure in _add)
                if not self.opened:
                    self.opened = True
                    opener = getattr(self.dev, "open", None)
                    try:
                        if opener:
                            opener()
                    except Exception:  # noqa: BLE001 - libusb ignores a failing GET_CAPABILITIES
                        pass
                arg.resolve(0, 4).update(0, struct.pack("<I", 0))
                return self._done(client)
            if req in (GETDRIVER, IOCTL):
                # no kernel driver is bound to the interface: libusb's detach-before-claim (it
                # re-claims after every reset) must read ENODATA, or the reset fails NOT_FOUND
                return self._done(client, -1, ENODATA)
            if req == CONNECTINFO:
                arg.resolve(0, 8).update(0, struct.pack("<IB3x", int(self.dev.devnum), 0))
                return self._done(client)
            if req == GET_SPEED:
                return self._done(client, 2)  # USB_SPEED_FULL
            if req in (CLAIMINTERFACE, RELEASEINTERFACE):
                intf = struct.unpack("<I", bytes(arg.resolve(0, 4).retrieve()))[0]
                name = "claim_interface" if req == CLAIMINTERFACE else "release_interface"
                log.write(op=name.split("_")[0], dev=self.devpath, intf=intf)
                return self._call(client, name, intf)
            if req == SETINTERFACE:
                intf, alt = struct.unpack("<II", bytes(arg.resolve(0, 8).retrieve()))
                log.write(op="setinterface", dev=self.devpath, intf=intf, alt=alt)
                return self._call(client, "set_interface", intf, alt)
            if req == SETCONFIGURATION:
                value = struct.unpack("<i", bytes(arg.resolve(0, 4).retrieve()))[0]
                log.write(op="setconfiguration", dev=self.devpath, value=value)
                return self._done(client)
            if req == RESET:
                log.write(op="reset", dev=self.devpath)
                self._call_quiet("reset")
                if getattr(self.dev, "gone", False):
                    # Linux: a device that comes back as something else fails the reset with
                    # ENODEV, which libusb reports as LIBUSB_ERROR_NOT_FOUND
                    return self._done(client, -1, ENODEV)
                return self._done(client)
            if req == CLEAR_HALT:
                return self._done(client)
            if req == SUBMITURB:
                return self._submit(client, arg)
            if req == DISCARDURB:
                pending = self.pending.get(client)
                if pending:
                    urb = pending.pop(0)
                    urb.update(4, struct.pack("<i", -ENOENT))
                    self.completed.setdefault(client, []).append(urb)
                    return self._done(client)
                return self._done(client, -1, EINVAL)
            if req == CONTROL:
                return self._sync_control(client, arg)
            return self._done(client, -1, ENOTTY)

        def _call_quiet(self, method: str, *args) -> int:
            try:
                getattr(self.dev, method)(*args)
            except Exception as exc:  # noqa: BLE001 - SimUsbError(code)
                code = _libusb_code(exc)
                self.bridge.log.write(op="error", dev=self.devpath, call=method, code=code)
                return code
            return 0

        def _call(self, client, method: str, *args) -> bool:
            func = getattr(self.dev, method, None)
            if func is None:
                return self._done(client)
            try:
                func(*args)
            except Exception as exc:  # SimUsbError(code): the ioctl fails with the matching errno
                code = _libusb_code(exc)
                self.bridge.log.write(op="error", dev=self.devpath, call=method, code=code)
                return self._done(client, -1, _ERRNO_FOR_LIBUSB.get(code, EIO))
            return self._done(client)

        def _control(self, setup: bytes, payload: bytes):
            """Run one control transfer on the model: (status, reply bytes, actual length)."""
            rt, request, value, index, length = struct.unpack_from("<BBHHH", setup)
            data = b"" if rt & 0x80 else payload[:length]
            entry = dict(op="control", dev=self.devpath, bmRequestType=rt, bRequest=request,
                         wValue=value, wIndex=index, wLength=length, data=data.hex())
            try:
                reply = self.dev.control(rt, request, value, index, data, length)
            except Exception as exc:
                code = _libusb_code(exc)
                entry["error"] = code
                self.bridge.log.write(**entry)
                return code, b"", 0
            if rt & 0x80:
                reply = bytes(reply or b"")[:length]
                entry["reply"] = reply.hex()
                self.bridge.log.write(**entry)
                return 0, reply, len(reply)
            self.bridge.log.write(**entry)
            return 0, b"", length

        def _submit(self, client, arg) -> bool:
            urb = arg.resolve(0, URB_SIZE)
            kind, _endpoint, _status, _flags, _bufptr, buflen = struct.unpack_from(
                "<BBxxiIxxxxQi", bytes(urb.retrieve()))
            if kind != URB_TYPE_CONTROL:
                return self._done(client, -1, EINVAL)  # DFU and Particle requests are control-only
            buf = urb.resolve(16, buflen)
            raw = bytes(buf.retrieve())
            code, reply, actual = self._control(raw[:8], raw[8:])
            if code == LIBUSB_TIMEOUT:
                self.pending.setdefault(client, []).append(urb)  # libusb discards it at its own timeout
                return self._done(client)
            if reply:
                buf.update(8, reply)
            status = _URB_STATUS_FOR_LIBUSB.get(code, -EPROTO) if code else 0
            urb.update(4, struct.pack("<i", status))
            urb.update(28, struct.pack("<i", actual))
            self.completed.setdefault(client, []).append(urb)
            return self._done(client)

        def _sync_control(self, client, arg) -> bool:
            # struct usbdevfs_ctrltransfer {u8 rt, req; u16 value, index, length; u32 timeout; void *data}
            ctrl = arg.resolve(0, 24)
            raw = bytes(ctrl.retrieve())
            rt, _r, _v, _i, length = struct.unpack_from("<BBHHH", raw)
            data = ctrl.resolve(16, length) if length else None
            payload = bytes(data.retrieve()) if (data is not None and not rt & 0x80) else b""
            code, reply, actual = self._control(raw[:8], payload)
            if code:
                return self._done(client, -1, _ERRNO_FOR_LIBUSB.get(code, EIO))
            if reply and data is not None:
                data.update(0, reply)
            return self._done(client, actual)

    return _UsbDevfs


UsbDevfs = None  # the GObject class, built on first use so importing this module needs no gi


# --- command line ----------------------------------------------------------------------


def _parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("umockdev-run: usage: umockdev-run [--platform NAME | --profile NAME | --state DIR] "
                         "[--fault KNOB=VALUE ...] [--log FILE] -- COMMAND [ARGS...]")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="umockdev-run", add_help=True)
    parser.add_argument("--platform", action="append", dest="devices", type=lambda s: ("platform", s),
                        help="attach a Particle device of this platform as it really behaves: its DFU "
                             "bootloader, or <platform>-normal for Device OS (repeatable)")
    parser.add_argument("--profile", action="append", dest="devices", type=lambda s: ("profile", s),
                        help="attach a device of this profile: photon, stm32, dfu11, dfu11nt, runtime, "
                             "<platform>, <platform>-normal (repeatable; comma lists accepted; '' = no "
                             "device; default: one photon)")
    parser.add_argument("--state", help="device state folder; created from the profiles if missing, "
                                        "kept afterwards so later commands see the same device")
    parser.add_argument("--fault", action="append", default=[], metavar="KNOB=VALUE",
                        help="fault knob of compat/dfu-util/scenarios.md (FAKE_ prefix optional)")
    parser.add_argument("--log", help="append every request the devices see to FILE (JSON lines)")
    opts = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("no COMMAND after --")
    return opts, command


def _split_specs(text: str) -> list[str]:
    """'photon,p1:id=ab,leave=reset,dfu11' -> ['photon', 'p1:id=ab,leave=reset', 'dfu11']."""
    specs: list[str] = []
    for token in text.split(","):
        if token and "=" in token and ":" not in token and specs:
            specs[-1] += "," + token          # another option of the previous profile
        elif token:
            specs.append(token)
    return specs


def _profiles(opts: argparse.Namespace) -> list[str] | None:
    """The profiles asked for, in command-line order; None when none was named (then one
    Photon), [] for --profile ''."""
    if not opts.devices:
        return None
    from particle_py import platforms
    from particle_py.sim.profiles import SCENARIO_PROFILES

    names: list[str] = []
    for kind, text in opts.devices:
        for spec in _split_specs(text):
            name, _, options = spec.partition(":")
            # 'photon' as a profile is the transcript device; as a platform, the real bootloader
            if kind == "platform" and name in SCENARIO_PROFILES and name in platforms.names() \
                    and "real=" not in options:
                spec = f"{name}:{options + ',' if options else ''}real=1"
            names.append(spec)
    return names


def _knobs(opts: argparse.Namespace) -> dict[str, str]:
    knobs = {}
    for item in opts.fault:
        if "=" not in item:
            raise SystemExit(f"umockdev-run: --fault wants KNOB=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        knobs[key.strip()] = value.strip()
    return knobs


def _child_env(umockdev_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    # Testbed.new() sets this with g_setenv, which os.environ (a start-up snapshot) does not see
    env["UMOCKDEV_DIR"] = umockdev_dir
    # serialport lists ttys with `udevadm info -e`: a stand-in prints the testbed's (sim/serial_umockdev.py)
    env["PATH"] = os.path.join(umockdev_dir, "particle-py-bin") + os.pathsep + env.get("PATH", "")
    # the child must reach the devices through libusb, not the in-process simulator backend
    env.pop("PARTICLE_PY_SIM", None)
    original = env.pop("PARTICLE_PY_UMOCKDEV_PYTHONPATH", None)
    if original is not None:
        if original:
            env["PYTHONPATH"] = original
        else:
            env.pop("PYTHONPATH", None)
    return env


def _drop_dac_override() -> None:
    """Make a 0000 device node unopenable for a root child too (FAKE_OPEN_FAIL=-3)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        libc.prctl(pr_capbset_drop, cap, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts, command = _parse_args(argv)
    if not os.environ.get("UMOCKDEV_DIR") and "umockdev" not in os.environ.get("LD_PRELOAD", ""):
        sys.stderr.write("umockdev-run: run me through scripts/umockdev-run (umockdev-wrapper is needed)\n")
        return 70

    from particle_py.sim.state import create_state

    global UsbDevfs
    UsbDevfs = _make_handler_class()

    profiles, knobs = _profiles(opts), _knobs(opts)
    temp_dir = None
    state_dir = opts.state
    if state_dir is None:
        temp_dir = tempfile.mkdtemp(prefix="particle-py-umockdev-")
        state_dir = temp_dir
    try:
        if not os.path.isdir(state_dir) or not os.listdir(state_dir):
            try:
                create_state(state_dir, ["photon"] if profiles is None else profiles, knobs)
            except (ValueError, KeyError) as exc:  # unknown profile or knob, bad knob value
                sys.stderr.write(f"umockdev-run: {exc}\n")
                return 64
        elif profiles is not None or knobs:
            sys.stderr.write("umockdev-run: --state folder exists; --profile/--platform/--fault ignored\n")
        return _run(state_dir, command, opts.log)
    finally:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _run(state_dir: str, command: list[str], log_path: str | None) -> int:
    from gi.repository import GLib

    from particle_py.sim.bus import SimBus

    bus = SimBus.load(state_dir)
    wire_log = WireLog(log_path)
    bridge = Bridge(bus, wire_log)
    needs_cap_drop = os.geteuid() == 0 and any(
        os.path.exists(node) and stat.S_IMODE(os.stat(node).st_mode) == 0
        for _dev, _sp, node, _h in bridge.attached.values())
    loop = GLib.MainLoop()
    result: dict[str, int] = {}
    try:
        proc = subprocess.Popen(command, env=_child_env(bridge.root),
                                preexec_fn=_drop_dac_override if needs_cap_drop else None)
    except OSError as exc:
        sys.stderr.write(f"umockdev-run: cannot run {command[0]}: {exc.strerror}\n")
        wire_log.close()
        _save(bus)
        return 127

    def forward(signum, _frame):
        if proc.poll() is None:
            proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)

    def wait_child():
        result["rc"] = proc.wait()
        GLib.idle_add(loop.quit)

    threading.Thread(target=wait_child, daemon=True).start()
    GLib.timeout_add(TICK_MS, bridge.tick)
    loop.run()  # ioctls from the child are served from this loop
    wire_log.close()
    _save(bus)
    rc = result.get("rc", 1)
    return 128 - rc if rc < 0 else rc


def _save(bus) -> None:
    close = getattr(bus, "close", None)
    bus.save()
    if close:
        close()


if __name__ == "__main__":
    sys.exit(main())
