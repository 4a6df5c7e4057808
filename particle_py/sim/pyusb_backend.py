"""A pyusb backend over the simulated bus, so client code runs unchanged on the simulator.

``usb.core.find(backend=SimBackend(state_dir))`` lists the simulated devices; transfers go to
``SimDevice.control()``. Failures are raised as pyusb's libusb1 backend raises them
(``USBError(strerror, backend_error_code, errno)``, ``USBTimeoutError`` for timeouts,
``NotImplementedError`` for LIBUSB_ERROR_NOT_SUPPORTED), so callers see the same thing as on
hardware. The bus is saved when a device is closed (and at exit), and reloaded from the
folder when nothing is open, so a sequence of processes works on the same devices.

The only module of ``particle_py.sim`` that imports pyusb.
"""
from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Optional

import usb.backend
import usb.core
import usb.util

from .bus import SimBus, state_token
from .device import SimDevice, SimUsbError

# libusb error code -> strerror / errno: pyusb's own tables, so the simulator's errors read
# exactly like those of pyusb's libusb1 backend
from usb.backend.libusb1 import _libusb_errno as _ERRNO, _str_error_map as _STRERROR  # noqa: E402


def usb_error(code: int) -> Exception:
    """The exception pyusb's libusb1 backend raises for a libusb error code."""
    text = _STRERROR.get(code, "Unknown error")
    if code == -12:
        return NotImplementedError(text)
    if code == -7:
        return usb.core.USBTimeoutError(text, code, _ERRNO[code])
    return usb.core.USBError(text, code, _ERRNO.get(code))


class _Desc:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class _DevRef:
    """What enumerate_devices yields: one simulated device, as pyusb's backend 'dev'."""

    def __init__(self, sim: SimDevice):
        self.sim = sim


class _Handle:
    def __init__(self, ref: _DevRef):
        self.ref = ref
        self.sim = ref.sim


class SimBackend(usb.backend.IBackend):
    def __init__(self, state_dir=None, bus: Optional[SimBus] = None):
        super().__init__()
        self.state_dir = os.fspath(state_dir) if state_dir is not None else None
        self.bus = bus
        self._open_handles = 0
        self._count_guard = threading.RLock()      # threads open and close devices of one bus
        # a process that ends with a device still open keeps its changes (weakly held)
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref()._open_handles and ref().save())

    # --- bus bookkeeping -----------------------------------------------------------------

    def _ensure_bus(self) -> SimBus:
        if self.state_dir is None:
            if self.bus is None:
                self.bus = SimBus()
            return self.bus
        # another process may have changed the folder; reload when nothing of ours is open. Under
        # the lock: a thread saving (a batch on many devices) changes the token and the file together
        with self._count_guard:
            if self.bus is None:
                self.bus = SimBus.load(self.state_dir)
            else:
                with self.bus._guard:
                    if self._open_handles == 0 and state_token(self.state_dir) != self.bus.token:
                        self.bus = SimBus.load(self.state_dir)
            return self.bus

    def save(self) -> None:
        if self.bus is not None and self.state_dir is not None:
            self.bus.save()

    def sleep_ms(self, ms: int) -> None:
        self._ensure_bus().sleep_ms(ms)

    @staticmethod
    def _call(fn, *args):
        try:
            return fn(*args)
        except SimUsbError as e:
            raise usb_error(e.code) from None

    # --- enumeration and descriptors --------------------------------------------------------
    def enumerate_devices(self):
        for sim in self._ensure_bus().devices():
            yield _DevRef(sim)

    def get_device_descriptor(self, dev):
        d = dev.sim.description
        from .descriptors import device_descriptor
        raw = device_descriptor(d)
        return _Desc(bLength=18, bDescriptorType=1, bcdUSB=d.bcd_usb, bDeviceClass=d.device_class,
                     bDeviceSubClass=d.device_subclass, bDeviceProtocol=d.device_protocol,
                     bMaxPacketSize0=d.max_packet0, idVendor=d.vid, idProduct=d.pid, bcdDevice=d.bcd_device,
                     iManufacturer=raw[14], iProduct=raw[15], iSerialNumber=raw[16], bNumConfigurations=1,
                     address=dev.sim.devnum, bus=dev.sim.bus, port_number=dev.sim.port_numbers[-1],
                     port_numbers=dev.sim.port_numbers, speed=usb.util.SPEED_FULL)

    def get_configuration_descriptor(self, dev, config):
        if config != 0:
            raise IndexError("configuration index out of range")
        d = dev.sim.description
        from .descriptors import configuration_descriptor
        raw = configuration_descriptor(d)
        return _Desc(bLength=9, bDescriptorType=2, wTotalLength=len(raw), bNumInterfaces=d.num_interfaces,
                     bConfigurationValue=d.config_value, iConfiguration=0, bmAttributes=d.config_attributes,
                     bMaxPower=d.max_power, extra_descriptors=[])

    @staticmethod
    def _alt(dev, intf: int, alt: int):
        numbers = sorted({a.number for a in dev.sim.description.interfaces})
        if intf >= len(numbers):
            raise IndexError("interface index out of range")
        alts = [a for a in dev.sim.description.interfaces if a.number == numbers[intf]]
        if alt >= len(alts):
            raise IndexError("alternate setting index out of range")
        return alts[alt]

    def get_interface_descriptor(self, dev, intf, alt, config):
        if config != 0:
            raise IndexError("configuration index out of range")
        a = self._alt(dev, intf, alt)
        d = dev.sim.description
        return _Desc(bLength=9, bDescriptorType=4, bInterfaceNumber=a.number, bAlternateSetting=a.alt,
                     bNumEndpoints=len(a.endpoints), bInterfaceClass=a.cls, bInterfaceSubClass=a.subclass,
                     bInterfaceProtocol=a.protocol, iInterface=d.string_index(a.name),
                     extra_descriptors=list(a.extra))

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        a = self._alt(dev, intf, alt)
        if ep >= len(a.endpoints):
            raise IndexError("endpoint index out of range")
        e = a.endpoints[ep]
        return _Desc(bLength=7, bDescriptorType=5, bEndpointAddress=e.address, bmAttributes=e.attributes,
                     wMaxPacketSize=e.max_packet, bInterval=e.interval, bRefresh=0, bSynchAddress=0,
                     extra_descriptors=[])

    # --- handles ------------------------------------------------------------------------
    def open_device(self, dev):
        with self._count_guard:
            self._call(dev.sim.open)
            self._open_handles += 1
        return _Handle(dev)

    def close_device(self, dev_handle):
        with self._count_guard:
            dev_handle.sim.close()
            self._open_handles = max(0, self._open_handles - 1)
        self.save()

    def set_configuration(self, dev_handle, config_value):
        self._call(dev_handle.sim.control, 0x00, 9, config_value, 0, b"", 0)

    def get_configuration(self, dev_handle):
        return self._call(dev_handle.sim.control, 0x80, 8, 0, 0, b"", 1)[0]

    def set_interface_altsetting(self, dev_handle, intf, altsetting):
        self._call(dev_handle.sim.set_interface, intf, altsetting)

    def claim_interface(self, dev_handle, intf):
        self._call(dev_handle.sim.claim_interface, intf)

    def release_interface(self, dev_handle, intf):
        self._call(dev_handle.sim.release_interface, intf)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):
        sim = dev_handle.sim
        if bmRequestType & 0x80:
            reply = self._call(sim.control, bmRequestType, bRequest, wValue, wIndex, b"", len(data))
            n = len(reply)
            data[:n] = type(data)("B", reply) if hasattr(data, "typecode") else reply
            return n
        payload = bytes(data)
        self._call(sim.control, bmRequestType, bRequest, wValue, wIndex, payload, len(payload))
        return len(payload)

    def reset_device(self, dev_handle):
        self._call(dev_handle.sim.reset)
        if dev_handle.sim.gone:
            self.save()
            # libusb on Linux: a device that comes back as something else fails the reset
            # with LIBUSB_ERROR_NOT_FOUND (the umockdev bridge does the same)
            raise usb_error(-5)

    def clear_halt(self, dev_handle, ep):
        pass

    def is_kernel_driver_active(self, dev_handle, intf):
        return False

    def detach_kernel_driver(self, dev_handle, intf):
        pass

    def attach_kernel_driver(self, dev_handle, intf):
        pass
