"""The simulated protected board as Device OS 6 shows it: DFU strings with the attribute `b`,
string 0xFA, errVENDOR for every read and write, the two DfuSe extensions, the control requests
a protected Device OS still answers, and Service Mode's 20 restarts or 24 hours."""
from __future__ import annotations

import contextlib

import pytest

from particle_py import control_codes as codes

DFU_DNLOAD, DFU_UPLOAD, DFU_GETSTATUS, DFU_CLRSTATUS = 1, 2, 3, 4


@contextlib.contextmanager
def first_device():
    from particle_py import usb as transport

    found = transport.find_devices()
    try:
        yield found[0]
    finally:
        for dev in found:
            transport.release_device(dev)


def dfu_names(world) -> list[str]:
    dev = world.bus().devices()[0]
    return [a.name for a in dev.description.interfaces]


def status(dev) -> tuple[int, int]:
    reply = bytes(dev.ctrl_transfer(0xA1, DFU_GETSTATUS, 0, 0, 6))
    return reply[0], reply[4]


def test_dfu_mode_shows_every_segment_erasable_only_and_the_state_string(world):
    world.create("boron", "--protected", "--mode", "dfu")
    # Device OS bootloader/src/nRF52840/usbd_dfu_mal.h *_IF_STRING_PROT, byte for byte
    assert dfu_names(world) == [
        "@Internal Flash   /0x00000000/1*004Kb,47*004Kb,192*004Kb,4*004Kb,4*004Kb,8*004Kb",
        "@DCT Flash   /0x00000000/1*016Kb",
        "@External Flash   /0x80000000/1024*004Kb"]
    import usb.util
    with first_device() as dev:
        assert usb.util.get_string(dev, codes.DFU_STATE_STRING_INDEX) == "sm=p"


def test_service_mode_shows_the_plain_strings_and_sm_s(world):
    world.create("p2", "--service-mode", "--mode", "dfu", device_id="0a10aced202194944a0b1c2d")
    assert dfu_names(world)[:2] == ["@Internal Flash   /0x08000000/8*004Ka,2040*004Kg",
                                    "@DCT Flash   /0x00000000/1*016Ke"]
    import usb.util
    with first_device() as dev:
        assert usb.util.get_string(dev, codes.DFU_STATE_STRING_INDEX) == "sm=s"


def test_every_read_erase_and_write_ends_in_errvendor_and_the_flash_is_untouched(world):
    world.create("boron", "--protected", "--mode", "dfu")
    before = world.flash(0, 0xB4000, 4096)
    with first_device() as dev:
        dev.set_interface_altsetting(0, 0)
        for command in (bytes([0x21]) + (0xB4000).to_bytes(4, "little"),      # set address
                        bytes([0x41]) + (0xB4000).to_bytes(4, "little")):     # erase a page
            dev.ctrl_transfer(0x21, DFU_DNLOAD, 0, 0, command)
            assert status(dev) == (codes.DFU_PROTECTED_STATUS, 10)            # errVENDOR, dfuERROR
            dev.ctrl_transfer(0x21, DFU_CLRSTATUS, 0, 0, b"")
        dev.ctrl_transfer(0x21, DFU_DNLOAD, 2, 0, b"\x00" * 4096)
        assert status(dev) == (codes.DFU_PROTECTED_STATUS, 10)
        dev.ctrl_transfer(0x21, DFU_CLRSTATUS, 0, 0, b"")
        assert bytes(dev.ctrl_transfer(0xA1, DFU_UPLOAD, 2, 0, 4096)) == b""
        assert status(dev) == (codes.DFU_PROTECTED_STATUS, 10)
        # GET_COMMAND lists the two extensions after ST's commands
        dev.ctrl_transfer(0x21, DFU_CLRSTATUS, 0, 0, b"")
        assert bytes(dev.ctrl_transfer(0xA1, DFU_UPLOAD, 0, 0, 16)) == bytes([0x00, 0x21, 0x41, 0x92, 0xFA, 0xFB])
    assert world.flash(0, 0xB4000, 4096) == before


def test_clear_override_0xfb_ends_service_mode_in_dfu_mode(world):
    world.create("boron", "--service-mode", "--mode", "dfu")
    with first_device() as dev:
        dev.ctrl_transfer(0x21, DFU_DNLOAD, 0, 0, bytes([codes.DFUSE_CLEAR_SECURITY_MODE_OVERRIDE]))
        assert status(dev)[0] == 0
    assert world.record().state == "protected"
    assert dfu_names(world)[1] == "@DCT Flash   /0x00000000/1*016Kb"


def test_enter_safe_mode_0xfa_is_taken_when_protected_and_the_board_leaves_dfu(world):
    world.create("boron", "--protected", "--mode", "dfu")
    with first_device() as dev:
        dev.ctrl_transfer(0x21, DFU_DNLOAD, 0, 0, bytes([codes.DFUSE_ENTER_SAFE_MODE]))
        with contextlib.suppress(Exception):          # it may leave before answering
            status(dev)
    devices = world.bus().devices()
    assert [d.profile.kind for d in devices] == ["normal"]


def _request(dev, req_type: int, payload: bytes = b"") -> tuple[int, bytes]:
    from particle_py.control import exchange
    return exchange.request(dev, req_type, payload)


def test_a_protected_device_os_answers_only_the_protection_requests(world):
    world.create("boron", "--protected")
    with first_device() as dev:
        assert _request(dev, codes.GET_PROTECTED_STATE) == (0, b"\x08\x01")          # state: true
        assert _request(dev, codes.GET_DEVICE_ID)[0] == 0
        for refused in (codes.GET_MODULE_INFO, codes.DFU_MODE, codes.RESET):
            assert _request(dev, refused)[0] == codes.RESULT_PROTECTED
    assert [d.profile.kind for d in world.bus().devices()] == ["normal"]      # DFU_MODE changed nothing


def test_device_os_before_6_does_not_know_the_request(world):
    from particle_py.cli.sim import main as particle_sim

    assert particle_sim(["create", "boron", "--device-os", "4.0.2"]) == 0
    with first_device() as dev:
        assert _request(dev, codes.GET_PROTECTED_STATE)[0] == codes.RESULT_NOT_SUPPORTED


def test_service_mode_lasts_20_restarts(world):
    world.create("boron", "--service-mode")
    for restart in range(19):
        assert world.particle("usb", "reset")[0] == 0
    assert world.record().state == "service" and world.record().reboots_left == 1
    assert world.particle("usb", "reset")[0] == 0
    assert world.record().state == "protected"


def test_service_mode_ends_after_24_hours_of_the_boards_time(world):
    from particle_py.sim import protection

    world.create("boron", "--service-mode")
    protection.make(world.state, 0, service_mode=True, seconds=0.000001)   # a moment of the 24 hours left
    code, out, _ = world.particle("device-protection", "status")
    assert code == 0 and out.splitlines()[0].endswith(": Protected Device")


def test_create_refuses_protection_where_device_os_has_none(world):
    from particle_py.cli.sim import main as particle_sim

    assert particle_sim(["create", "photon", "--protected", "--device-os", "6.2.1"]) == 2
    assert particle_sim(["create", "boron", "--protected", "--device-os", "4.0.2"]) == 2


@pytest.mark.parametrize("text, letters", [
    ("@Internal Flash   /0x08000000/8*004Ka,2040*004Kg", "bb"),
    ("@External Flash   /0x80000000/2048*004Kg", "b"),
    ("@DCT Flash   /0x00000000/1*016Ke", "b"),
])
def test_protected_layouts_keep_the_name_and_sizes(text, letters):
    from particle_py.sim.protection import protected_layout

    out = protected_layout(text)
    assert out[:-1].replace("b,", "X,") is not None and out.split("/")[:2] == text.split("/")[:2]
    assert "".join(seg[-1] for seg in out.split("/")[2].split(",")) == letters
