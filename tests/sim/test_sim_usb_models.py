"""The simulated Device OS behind 3.51's usb commands, on the wire: safe mode for one boot, the
setup-done flag in the DCT and the listening mode it decides below 4.0, the cloud status from the
boot model, env (6.4+) and application requests."""
import pytest

from particle_py import control_codes as codes
from particle_py.sim import boot

from sim_helpers import make_bus
from test_sim_normal_mode import request

ID = "e00fce68eedc3c3f17f89017"


def only(bus):
    (dev,) = bus.devices()
    return dev


def result(dev, req_type, payload=b""):
    check, data = request(dev, req_type, payload)
    return check.get("result", 0), data


def test_safe_mode_request_lasts_one_boot(state_dir):
    bus = make_bus(state_dir, [f"argon-normal:id={ID},boot=normal"])
    dev = only(bus)
    assert result(dev, codes.SAFE_MODE) == (0, b"")
    assert dev.gone                                    # restarted after the reply
    (safe,) = bus.devices()
    assert safe.safe_mode and safe.mode == codes.MODE_NORMAL
    # Device OS reports NORMAL in safe mode (control/config.cpp getDeviceMode)
    assert result(safe, codes.GET_DEVICE_MODE) == (0, b"")
    bus.save()
    assert only(type(bus).load(state_dir)).safe_mode      # kept in the state across processes
    again = type(bus).load(state_dir)
    assert result(only(again), codes.RESET)[0] == 0
    assert not only(again).safe_mode                    # the bootloader cleared the register


def test_backup_register_is_read_once(tmp_path):
    boot.request_safe_mode(tmp_path, 3)
    assert (tmp_path / "unit3-backup-register.txt").read_text() == "0x5afe\n"
    assert boot.take_safe_mode_request(tmp_path, 3) is True
    assert boot.take_safe_mode_request(tmp_path, 3) is False
    assert boot.take_safe_mode_request(None, 3) is False


@pytest.mark.parametrize("fw,starts_listening", [("1.5.2", True), ("3.3.1", True), ("4.0.0", False)])
def test_gen3_without_the_setup_flag(state_dir, fw, starts_listening):
    dev = only(make_bus(state_dir, [f"boron-normal:id={ID},fw={fw},boot=normal"]))
    assert dev.mode == (codes.MODE_LISTENING if starts_listening else codes.MODE_NORMAL)


def test_setup_done_request_writes_the_dct_below_4(state_dir):
    bus = make_bus(state_dir, [f"argon-normal:id={ID},fw=2.3.1,boot=normal"])
    dev = only(bus)
    alt, address = boot.SETUP_DONE_DCT
    assert result(dev, codes.IS_DEVICE_SETUP_DONE) == (0, b"")          # done = false
    assert result(dev, codes.SET_DEVICE_SETUP_DONE, b"\x08\x01") == (0, b"")
    assert dev.memory(alt).peek(address, 1) == b"\x01"
    assert result(dev, codes.IS_DEVICE_SETUP_DONE) == (0, b"\x08\x01")
    assert result(dev, codes.SET_DEVICE_SETUP_DONE, b"") == (0, b"")     # done = false clears it
    assert dev.memory(alt).peek(address, 1) == b"\xff"
    assert result(dev, codes.SET_DEVICE_SETUP_DONE, b"\x08") == (codes.RESULT_INVALID_FORMAT, b"")


@pytest.mark.parametrize("spec,done,cleared", [
    ("argon-normal:fw=4.2.0", codes.RESULT_OK, codes.RESULT_NOT_SUPPORTED),     # deprecated from 4.0
    ("p2-normal:fw=5.8.0", codes.RESULT_OK, codes.RESULT_NOT_SUPPORTED),
    ("photon-normal:real=1,fw=2.3.1", codes.RESULT_NOT_SUPPORTED, codes.RESULT_NOT_SUPPORTED)])
def test_setup_done_elsewhere(state_dir, spec, done, cleared):
    dev = only(make_bus(state_dir, [f"{spec},id={ID},boot=normal"]))
    assert result(dev, codes.SET_DEVICE_SETUP_DONE, b"\x08\x01")[0] == done
    assert result(dev, codes.SET_DEVICE_SETUP_DONE, b"")[0] == cleared


def test_cloud_status_without_a_cloud_is_connecting_and_listening_disconnected(state_dir):
    dev = only(make_bus(state_dir, [f"argon-normal:id={ID},boot=normal"]))
    assert result(dev, codes.CLOUD_GET_CONNECTION_STATUS) == (0, b"\x08\x01")     # CONNECTING
    assert result(dev, codes.START_LISTENING)[0] == 0
    assert result(dev, codes.CLOUD_GET_CONNECTION_STATUS) == (0, b"")             # DISCONNECTED


@pytest.mark.parametrize("fw,answer", [("6.3.9", codes.RESULT_NOT_SUPPORTED), ("6.4.0", codes.RESULT_OK)])
def test_env_from_6_4(state_dir, fw, answer):
    dev = only(make_bus(state_dir, [f"p2-normal:id={ID},fw={fw},boot=normal"]))
    assert result(dev, codes.ENV_GET) == (answer, b"")


def test_app_request_without_a_handler(state_dir):
    dev = only(make_bus(state_dir, [f"msom-normal:id={ID},boot=normal"]))
    assert result(dev, codes.APP_CUSTOM, b"ping") == (codes.RESULT_NOT_SUPPORTED, b"")


def test_boot_model_safe_mode_and_setup_flag():
    from particle_py import platforms
    argon = platforms.by_name("argon")
    erased = lambda alt, address, length: b"\xff" * length       # noqa: E731
    assert boot.setup_pending(erased, argon, "2.3.1") and not boot.setup_pending(erased, argon, "4.0.0")
    assert not boot.setup_pending(erased, platforms.by_name("p2"), "3.3.1")
    assert not boot.setup_pending(erased, argon, None)             # no Device OS known: not judged
