"""pyusb on top of the simulator: find, descriptors, strings, transfers, errors, reset."""
import errno

import pytest
import usb.core
import usb.util

from particle_py.sim import SimBus, create_state
from particle_py.sim.pyusb_backend import SimBackend


@pytest.fixture
def backend(state_dir):
    create_state(state_dir, ["photon", "stm32", "dfu11", "runtime"], {})
    return SimBackend(state_dir)


def test_find_lists_devices_with_bus_address_and_ports(backend):
    devs = list(usb.core.find(find_all=True, backend=backend))
    assert [(d.idVendor, d.idProduct, d.bus, d.address, d.port_numbers) for d in devs] == [
        (0x2B04, 0xD006, 1, 5, (2,)), (0x0483, 0xDF11, 1, 6, (3,)),
        (0x1209, 0x0001, 1, 7, (4,)), (0x1209, 0x0002, 1, 8, (5,))]
    photon = usb.core.find(idVendor=0x2B04, idProduct=0xD006, backend=backend)
    assert photon.bcdDevice == 0x0200 and photon.bMaxPacketSize0 == 64


def test_strings_and_alt_settings_through_pyusb(backend):
    dev = usb.core.find(idVendor=0x2B04, backend=backend)
    assert usb.util.get_string(dev, dev.iSerialNumber) == "00000000010C"
    assert usb.util.get_string(dev, dev.iProduct) == "Photon DFU Mode"
    alts = [(i.bInterfaceNumber, i.bAlternateSetting, usb.util.get_string(dev, i.iInterface), bytes(i.extra_descriptors))
            for i in dev.get_active_configuration()]
    assert alts == [
        (0, 0, "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg", b""),
        (0, 1, "@DCT Flash   /0x00000000/01*016Kg", bytes.fromhex("09210bff0000101a01"))]
    usb.util.dispose_resources(dev)


def test_dfu_transfers_and_flash(backend, state_dir):
    dev = usb.core.find(idVendor=0x2B04, backend=backend)
    dev.set_interface_altsetting(0, 1)
    assert bytes(dev.ctrl_transfer(0xA1, 3, 0, 0, 6)) == bytes([0, 0, 0, 0, 2, 0])
    assert dev.ctrl_transfer(0x21, 1, 0, 0, b"\x21\x22\x00\x00\x00") == 5        # set address 34
    dev.ctrl_transfer(0xA1, 3, 0, 0, 6), dev.ctrl_transfer(0xA1, 3, 0, 0, 6)
    assert dev.ctrl_transfer(0x21, 1, 2, 0, b"key bytes") == 9
    assert bytes(dev.ctrl_transfer(0xA1, 3, 0, 0, 6))[4] == 4
    assert bytes(dev.ctrl_transfer(0xA1, 3, 0, 0, 6))[4] == 5
    usb.util.dispose_resources(dev)                   # closing saves the bus
    assert SimBus.load(state_dir).devices()[0].memory(1).peek(34, 9) == b"key bytes"


def test_stall_is_usberror_epipe_like_libusb(backend):
    dev = usb.core.find(idVendor=0x2B04, backend=backend)
    with pytest.raises(usb.core.USBError) as e:
        dev.ctrl_transfer(0xA1, 9, 0, 0, 6)
    assert (e.value.errno, e.value.backend_error_code, e.value.strerror) == (errno.EPIPE, -9, "Pipe error")
    assert str(e.value) == "[Errno 32] Pipe error"


def test_open_failure_is_access_denied(state_dir):
    create_state(state_dir, ["photon"], {"FAKE_OPEN_FAIL": "-3"})
    dev = usb.core.find(idVendor=0x2B04, backend=SimBackend(state_dir))
    with pytest.raises(usb.core.USBError) as e:
        dev.ctrl_transfer(0xA1, 3, 0, 0, 6)
    assert (e.value.errno, e.value.backend_error_code) == (errno.EACCES, -3)
    assert str(e.value) == "[Errno 13] Access denied (insufficient permissions)"
    with pytest.raises(ValueError, match="permission issue"):   # what pyusb says on real libusb too
        usb.util.get_string(dev, dev.iSerialNumber)


def test_timeout_is_usbtimeouterror(state_dir):
    create_state(state_dir, ["photon"], {"FAKE_TIMEOUT_REQUEST": "3"})
    dev = usb.core.find(idVendor=0x2B04, backend=SimBackend(state_dir))
    with pytest.raises(usb.core.USBTimeoutError) as e:
        dev.ctrl_transfer(0xA1, 3, 0, 0, 6)
    assert e.value.backend_error_code == -7


def test_reset_reenumerates_runtime_device(backend, state_dir):
    rt = usb.core.find(idVendor=0x1209, idProduct=0x0002, backend=backend)
    rt.ctrl_transfer(0x21, 0, 1000, 1, None)
    with pytest.raises(usb.core.USBError) as e:       # as libusb: the device came back as another
        rt.reset()
    assert (e.value.backend_error_code, e.value.errno) == (-5, errno.ENOENT)
    ids = [(d.idVendor, d.idProduct, d.address) for d in usb.core.find(find_all=True, backend=backend)]
    assert ids[-1] == (0x1209, 0x0001, 9)
    assert [d.profile.name for d in SimBus.load(state_dir).devices()][-1] == "dfu11"
    with pytest.raises(usb.core.USBError) as e:       # the old handle is gone
        rt.ctrl_transfer(0xA1, 3, 0, 1, 6)
    assert e.value.backend_error_code == -4


def test_backend_reloads_changes_made_by_another_process(backend, state_dir):
    assert len(list(usb.core.find(find_all=True, backend=backend))) == 4
    create_state(state_dir, ["argon"], {})
    devs = list(usb.core.find(find_all=True, backend=backend))
    assert [(d.idVendor, d.idProduct) for d in devs] == [(0x2B04, 0xD00C)]


def test_backend_sees_a_save_made_right_after_it_loaded(backend, state_dir):
    list(usb.core.find(find_all=True, backend=backend))
    bus = SimBus.load(state_dir)
    bus.devices()[0].memory(0).poke(0x08020000, b"poked")
    bus.save()                                         # same clock tick, most likely
    dev = usb.core.find(idVendor=0x2B04, backend=backend)
    dev.ctrl_transfer(0x21, 1, 0, 0, b"\x21\x00\x00\x02\x08")
    dev.ctrl_transfer(0xA1, 3, 0, 0, 6), dev.ctrl_transfer(0xA1, 3, 0, 0, 6)
    dev.ctrl_transfer(0x21, 6, 0, 0, None)
    assert bytes(dev.ctrl_transfer(0xA1, 2, 2, 0, 5)) == b"poked"
