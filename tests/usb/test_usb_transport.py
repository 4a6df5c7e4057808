"""Contract 2: backend choice, find_devices, sleep_ms on the simulator."""
import pytest

from particle_py import usb as transport
from particle_py.errors import ParticlePyError
from particle_py.sim import SimBus, create_state


@pytest.fixture
def sim(tmp_path, monkeypatch):
    state = tmp_path / "sim"
    create_state(state, ["photon", "argon-normal"], {})
    monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
    yield state
    transport.release_simulator()


def test_simulator_backend_when_env_is_set(sim):
    from particle_py.sim.pyusb_backend import SimBackend
    assert isinstance(transport.get_backend(), SimBackend)
    assert transport.get_backend() is transport.get_backend()     # one bus per folder per process


def test_find_devices_lists_and_filters(sim):
    assert [(d.idVendor, d.idProduct) for d in transport.find_devices()] == [(0x2B04, 0xD006), (0x2B04, 0xC00C)]
    assert [d.idProduct for d in transport.find_devices(idProduct=0xC00C)] == [0xC00C]


def test_sleep_ms_is_modelled_on_the_simulator(sim):
    transport.sleep_ms(250)
    transport.sleep_ms(750)
    transport.release_simulator()
    assert SimBus.load(sim).clock_us == 1_000_000


def test_normal_mode_device_answers_vendor_requests_and_goes_to_dfu(sim):
    from particle_py import control_codes as codes
    from particle_py.control import exchange as control
    dev = transport.find_devices(idProduct=0xC00C)[0]
    result, reply = control.request(dev, codes.GET_DEVICE_ID)
    device_id = SimBus.load(sim).devices()[1].profile.device_id
    assert result == 0 and reply == b"\x0a\x18" + device_id.encode()
    assert control.firmware_version(dev) == "4.2.0"
    assert control.request(dev, codes.START_LISTENING) == (0, b"")
    assert control.request(dev, codes.GET_DEVICE_MODE) == (0, b"\x08\x01")    # LISTENING_MODE
    assert control.request(dev, 9999) == (-120, b"")                            # not supported
    assert control.request(dev, codes.DFU_MODE) == (0, b"")
    ids = [(d.idProduct, d.address) for d in transport.find_devices()]
    assert ids == [(0xD006, 5), (0xD00C, 7)]
    import usb.util
    dfu = transport.find_devices(idProduct=0xD00C)[0]
    assert usb.util.get_string(dfu, dfu.iSerialNumber) == device_id


def test_no_backend_error_has_a_fix(monkeypatch):
    monkeypatch.delenv("PARTICLE_PY_SIM", raising=False)
    import libusb_package
    import usb.backend.libusb1
    monkeypatch.setattr(libusb_package, "get_libusb1_backend", lambda *a, **k: None)
    monkeypatch.setattr(usb.backend.libusb1, "get_backend", lambda *a, **k: None)
    with pytest.raises(ParticlePyError) as e:
        transport.get_backend()
    assert e.value.message == "No libusb backend: particle-py cannot talk to USB devices"
    assert "libusb" in e.value.hint and "reinstall" in e.value.hint


def test_real_backend_without_simulator(monkeypatch):
    monkeypatch.delenv("PARTICLE_PY_SIM", raising=False)
    backend = transport.get_backend()
    from particle_py.sim.pyusb_backend import SimBackend
    assert not isinstance(backend, SimBackend)


def test_open_failure_becomes_a_usb_error_with_the_fix(tmp_path, monkeypatch):
    import usb.core
    state = tmp_path / "sim"
    create_state(state, ["photon"], {"FAKE_OPEN_FAIL": "-3"})
    monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
    try:
        dev = transport.find_devices()[0]
        with pytest.raises(usb.core.USBError) as e:
            dev.ctrl_transfer(0xA1, 3, 0, 0, 6)
        err = transport.error_from(e.value, "open DFU device", dev.idVendor, dev.idProduct, platform="linux")
        assert err.message == "Cannot open DFU device 2b04:d006 (LIBUSB_ERROR_ACCESS)"
        assert err.errno_name == "LIBUSB_ERROR_ACCESS" and err.libusb_code == -3
        assert "50-particle.rules" in err.hint
    finally:
        transport.release_simulator()


def test_not_supported_on_windows_points_at_winusb():
    err = transport.error_from(NotImplementedError("Operation not supported"), "open the device", 0x2B04, 0xD00C,
                               platform="win32")
    assert err.errno_name == "LIBUSB_ERROR_NOT_SUPPORTED" and "Zadig" in err.hint


def test_simulator_folder_without_devices_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path / "nothing"))
    with pytest.raises(ParticlePyError) as e:
        transport.find_devices()
    assert e.value.message.endswith("nothing holds no simulated devices")
    assert "particle-sim create" in e.value.hint
