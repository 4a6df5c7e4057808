"""A look at the USB bus through libusb with ctypes alone: is any DFU interface there at all?

`dfu-util -l` with no DFU device is mostly start-up: importing pyusb (its libloader pulls in
ctypes.util, logging, ...) costs more than the listing itself. Every device dfu-util lists has
an interface of class 0xFE subclass 1 in some configuration (particle_py.dfu.probe skips all
others silently), and libusb reads those descriptors from its cache without opening anything.
So when no such interface exists, the answer is the empty list and pyusb is never imported.
Anything unusual (no library, an error, a platform whose structs differ) answers None: then the
caller takes the full pyusb path, which reports problems properly.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

DFU_CLASS, DFU_SUBCLASS = 0xFE, 0x01


# the file name libusb-package gives the library, per sys.platform (anything else: the .so)
LIBRARY_NAMES = {"darwin": "libusb-1.0.dylib", "win32": "libusb-1.0.dll", "cygwin": "libusb-1.0.dll"}


def library_name(platform: Optional[str] = None) -> str:
    return LIBRARY_NAMES.get(platform or sys.platform, "libusb-1.0.so")


def bundled_libusb_path(platform: Optional[str] = None) -> Optional[str]:
    """libusb-package's library file, found without running libusb_package's __init__."""
    import importlib.util

    spec = importlib.util.find_spec("libusb_package")
    if spec is None or not spec.origin:
        return None
    path = os.path.join(os.path.dirname(spec.origin), library_name(platform))
    return path if os.path.isfile(path) else None


def any_dfu_interface(library_path: Optional[str]) -> Optional[bool]:
    """True/False: some attached device has / no attached device has a DFU interface.
    None: could not tell (the caller must look the slow way)."""
    if not library_path:
        return None
    try:
        return _scan(library_path)
    except Exception:          # any surprise: let pyusb look, and report
        return None


def _scan(library_path: str) -> Optional[bool]:
    import ctypes as c

    class InterfaceDescriptor(c.Structure):
        _fields_ = [("bLength", c.c_uint8), ("bDescriptorType", c.c_uint8), ("bInterfaceNumber", c.c_uint8),
                    ("bAlternateSetting", c.c_uint8), ("bNumEndpoints", c.c_uint8),
                    ("bInterfaceClass", c.c_uint8), ("bInterfaceSubClass", c.c_uint8),
                    ("bInterfaceProtocol", c.c_uint8), ("iInterface", c.c_uint8),
                    ("endpoint", c.c_void_p), ("extra", c.c_void_p), ("extra_length", c.c_int)]

    class Interface(c.Structure):
        _fields_ = [("altsetting", c.POINTER(InterfaceDescriptor)), ("num_altsetting", c.c_int)]

    class ConfigDescriptor(c.Structure):
        _fields_ = [("bLength", c.c_uint8), ("bDescriptorType", c.c_uint8), ("wTotalLength", c.c_uint16),
                    ("bNumInterfaces", c.c_uint8), ("bConfigurationValue", c.c_uint8),
                    ("iConfiguration", c.c_uint8), ("bmAttributes", c.c_uint8), ("MaxPower", c.c_uint8),
                    ("interface", c.POINTER(Interface)), ("extra", c.c_void_p), ("extra_length", c.c_int)]

    class DeviceDescriptor(c.Structure):
        _fields_ = [("bLength", c.c_uint8), ("bDescriptorType", c.c_uint8), ("bcdUSB", c.c_uint16),
                    ("bDeviceClass", c.c_uint8), ("bDeviceSubClass", c.c_uint8), ("bDeviceProtocol", c.c_uint8),
                    ("bMaxPacketSize0", c.c_uint8), ("idVendor", c.c_uint16), ("idProduct", c.c_uint16),
                    ("bcdDevice", c.c_uint16), ("iManufacturer", c.c_uint8), ("iProduct", c.c_uint8),
                    ("iSerialNumber", c.c_uint8), ("bNumConfigurations", c.c_uint8)]

    if os.name == "nt" and c.sizeof(c.c_void_p) == 4:
        return None                # 32-bit Windows libusb is stdcall; not worth a second binding
    lib = c.CDLL(library_path)
    lib.libusb_init.argtypes = [c.POINTER(c.c_void_p)]
    lib.libusb_exit.argtypes = [c.c_void_p]
    lib.libusb_get_device_list.argtypes = [c.c_void_p, c.POINTER(c.POINTER(c.c_void_p))]
    lib.libusb_get_device_list.restype = c.c_ssize_t
    lib.libusb_free_device_list.argtypes = [c.POINTER(c.c_void_p), c.c_int]
    lib.libusb_get_device_descriptor.argtypes = [c.c_void_p, c.POINTER(DeviceDescriptor)]
    lib.libusb_get_config_descriptor.argtypes = [c.c_void_p, c.c_uint8, c.POINTER(c.POINTER(ConfigDescriptor))]
    lib.libusb_free_config_descriptor.argtypes = [c.POINTER(ConfigDescriptor)]

    ctx = c.c_void_p()
    if lib.libusb_init(c.byref(ctx)) != 0:
        return None
    try:
        devices = c.POINTER(c.c_void_p)()
        count = lib.libusb_get_device_list(ctx, c.byref(devices))
        if count < 0:
            return None
        try:
            for i in range(count):
                desc = DeviceDescriptor()
                if lib.libusb_get_device_descriptor(devices[i], c.byref(desc)) != 0:
                    return None
                for index in range(desc.bNumConfigurations):
                    config = c.POINTER(ConfigDescriptor)()
                    if lib.libusb_get_config_descriptor(devices[i], index, c.byref(config)) != 0:
                        return None        # unreadable: pyusb's path decides what dfu-util would do
                    try:
                        cfg = config.contents
                        for n in range(cfg.bNumInterfaces):
                            intf = cfg.interface[n]
                            for a in range(intf.num_altsetting):
                                alt = intf.altsetting[a]
                                if alt.bInterfaceClass == DFU_CLASS and alt.bInterfaceSubClass == DFU_SUBCLASS:
                                    return True
                    finally:
                        lib.libusb_free_config_descriptor(config)
            return False
        finally:
            lib.libusb_free_device_list(devices, 1)
    finally:
        lib.libusb_exit(ctx)


def no_dfu_device() -> bool:
    """True only when it is certain that no attached device has a DFU interface (real USB with
    libusb-package's library; never on the simulator or with PARTICLE_PY_LIBUSB=system)."""
    if os.environ.get("PARTICLE_PY_SIM") or os.environ.get("PARTICLE_PY_LIBUSB", "").lower() == "system":
        return False
    return any_dfu_interface(bundled_libusb_path()) is False
