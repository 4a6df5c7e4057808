"""The DfuSe state machine as dfu-util and particle-usb drive it, and what ends up in flash."""
import struct

import pytest

from particle_py.sim import SimUsbError
from particle_py.sim import device as sd

from sim_helpers import Dfu, make_bus

DNBUSY, DNIDLE, IDLE, ERROR, MANIFEST = 4, 5, 2, 10, 7


@pytest.fixture
def photon(state_dir):
    bus = make_bus(state_dir, ["photon"])
    dev = bus.devices()[0]
    dev.open()
    dev.claim_interface(0)
    dev.set_interface(0, 0)
    return dev


def test_first_poll_after_command_is_dnbusy_then_dnload_idle(photon):
    host = Dfu(photon)
    assert host.status() == (0, 0, IDLE)
    assert host.erase(0x08020000) == [(0, 1, DNBUSY), (0, 0, DNIDLE)]
    assert host.set_address(0x08020000) == [(0, 1, DNBUSY), (0, 0, DNIDLE)]


def test_download_then_upload_round_trip_and_flash_contents(photon):
    host = Dfu(photon)
    data = bytes(range(256)) * 20                      # 5120 bytes, two blocks of 4096
    host.erase(0x08020000)
    assert host.write(0x08020000, data[:4096]) == [(0, 1, DNBUSY), (0, 0, DNIDLE)]
    host.write(0x08021000, data[4096:])
    host.abort()
    assert host.status() == (0, 0, IDLE)
    assert photon.memory(0).peek(0x08020000, len(data)) == data
    assert host.read(0x08020000, len(data)) == data


def test_block_address_uses_descriptor_transfer_size(photon):
    host = Dfu(photon)
    host.erase(0x08020000)
    host.set_address(0x08020000)
    host.dnload(3, b"\xAA" * 16)                      # block 3 = pointer + 1 * 4096
    host.status(), host.status()
    assert photon.memory(0).peek(0x08021000, 16) == b"\xAA" * 16
    assert photon.memory(0).peek(0x08020000, 16) == b"\xFF" * 16


def test_upload_block_zero_lists_commands(photon):
    assert Dfu(photon).upload(0, 4) == bytes([0x00, 0x21, 0x41, 0x92])


def test_upload_without_address_starts_at_segment_base(photon):
    photon.memory(0).poke(0x08000000, b"boot")
    assert Dfu(photon).upload(2, 4) == b"boot"


def test_short_upload_ends_in_idle(photon):
    host = Dfu(photon)
    host.set_address(0x080FFFF0)
    host.abort()
    assert len(host.upload(2, 4096)) == 16           # the map ends 16 bytes later
    assert host.status()[2] == IDLE


def test_leave_answers_manifest_then_device_is_gone(photon):
    host = Dfu(photon)
    host.set_address(0x08020000)
    host.dnload(2, b"")
    assert host.status() == (0, 0, MANIFEST)
    assert photon.gone and photon.successor == "photon-normal:id=00000000010c"
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == sd.LIBUSB_ERROR_NO_DEVICE


def test_abort_from_dnload_idle_goes_idle(photon):
    host = Dfu(photon)
    host.set_address(0x08020000)
    assert host.status()[2] == DNIDLE
    host.abort()
    assert host.status() == (0, 0, IDLE)


def test_mass_erase_and_unprotect_on_stm32(state_dir):
    bus = make_bus(state_dir, ["stm32"])
    dev = bus.devices()[0]
    dev.memory(0).poke(0x08000000, b"\x00" * 16)
    host = Dfu(dev)
    assert host.command(b"\x41") == [(0, 1, DNBUSY), (0, 0, DNIDLE)]
    assert dev.memory(0).peek(0x08000000, 16) == b"\xff" * 16
    dev.memory(0).poke(0x08000000, b"\x00" * 16)
    host.dnload(0, b"\x92")
    assert host.status()[2] == DNBUSY                  # acknowledges, then erases and resets
    assert dev.gone and dev.successor == "stm32"
    assert dev.memory(0).peek(0x08000000, 16) == b"\xff" * 16
    again = bus.devices()[0]
    assert again is not dev and again.path == dev.path and again.devnum == 6


def test_unknown_dfuse_command_stalls_and_sets_error(photon):
    host = Dfu(photon)
    with pytest.raises(SimUsbError) as e:
        host.dnload(0, b"\x55\x00")
    assert e.value.code == sd.LIBUSB_ERROR_PIPE
    assert host.status() == (sd.ERR_STALLEDPKT, 0, ERROR)
    photon.control(0x21, 4, 0, 0, b"", 0)                # CLRSTATUS
    assert host.status() == (0, 0, IDLE)


def test_requests_in_error_state_stall_until_clrstatus(photon):
    host = Dfu(photon)
    with pytest.raises(SimUsbError):
        host.dnload(1, b"x")                           # block 1 is reserved in DfuSe
    with pytest.raises(SimUsbError):
        host.set_address(0x08020000)
    assert photon.control(0xA1, 5, 0, 0, b"", 1) == bytes([ERROR])   # GETSTATE still answers


def test_unknown_request_stalls(photon):
    with pytest.raises(SimUsbError) as e:
        photon.control(0xA1, 9, 0, 0, b"", 6)
    assert e.value.code == sd.LIBUSB_ERROR_PIPE


def test_modelled_time_and_poll_timeout_of_a_platform_device(state_dir):
    bus = make_bus(state_dir, ["photon:real=1"])
    dev = bus.devices()[0]
    host = Dfu(dev)
    before = dev.flash_time_us
    first, second = host.erase(0x08020000)            # a 128 KiB sector: 1 s typical
    assert first == (0, 1000, DNBUSY) and second == (0, 0, DNIDLE)
    assert dev.flash_time_us - before == 1_000_000
    host.set_address(0x08020000)
    host.dnload(2, b"\x00" * 4096)                     # 1024 words at 16 us
    assert host.status() == (0, 17, DNBUSY)
    assert dev.flash_time_us - before == 1_000_000 + 16_384
    assert dev.device_time_us > dev.flash_time_us      # USB transfers cost time too


def test_scenario_photon_reports_1ms_while_busy_whatever_the_work(photon):
    assert Dfu(photon).erase(0x08020000)[0] == (0, 1, DNBUSY)
    assert photon.flash_time_us == 1_000_000


def test_plain_dfu_download_manifest_and_upload(state_dir):
    bus = make_bus(state_dir, ["dfu11", "dfu11nt"])
    dfu11, dfu11nt = bus.devices()
    host = Dfu(dfu11)
    assert len(host.upload(0, 1024)) == 1024
    assert len(host.upload(2, 1024)) == 3000 - 2048   # the device holds 3000 bytes
    assert host.status()[2] == IDLE
    image = bytes(range(256)) * 5
    for block, off in enumerate(range(0, len(image), 1024)):
        host.dnload(block, image[off:off + 1024])
        assert host.status()[2] == DNBUSY
        assert host.status()[2] == DNIDLE
    host.dnload(5, b"")
    assert host.status()[2] == MANIFEST
    assert host.status()[2] == IDLE                    # manifestation tolerant
    assert host.upload(0, 1024) + host.upload(1, 1024) == image
    nt = Dfu(dfu11nt)
    nt.dnload(0, b"x" * 10)
    nt.status(), nt.status()
    nt.dnload(1, b"")
    assert nt.status()[2] == MANIFEST
    assert nt.status()[2] == sd.DFU_MANIFEST_WAIT_RESET
    dfu11nt.reset()
    assert nt.status() == (0, 0, IDLE)


def test_plain_dfu_zero_length_download_in_idle_stalls(state_dir):
    dev = make_bus(state_dir, ["dfu11"]).devices()[0]
    with pytest.raises(SimUsbError):
        Dfu(dev).dnload(0, b"")


def test_next_download_after_a_single_busy_poll_is_accepted(state_dir):
    # dfu-util :will-reset stops polling at dfuDNBUSY and sends the next command
    dev = make_bus(state_dir, ["stm32"]).devices()[0]
    host = Dfu(dev)
    host.dnload(0, b"\x21" + struct.pack("<I", 0x08010000))
    assert host.status()[2] == DNBUSY
    host.dnload(2, b"\x00" * 8)
    assert host.status()[2] == DNBUSY
    host.dnload(0, b"\x21" + struct.pack("<I", 0x08010008))
    assert host.status()[2] == DNBUSY
    assert dev.memory(0).peek(0x08010000, 8) == b"\x00" * 8


def _opened(state_dir, profile):
    dev = make_bus(state_dir, [profile]).devices()[0]
    dev.open()
    dev.claim_interface(0)
    dev.set_interface(0, 0)
    return dev


@pytest.mark.parametrize("profile, erased, then_at", [
    # ST's DFU library (Gen2): the ERASE command moves the pointer to the page it erased
    ("photon:real=1", 0x08020000, 0x08021000),
    # Particle's Gen3 bootloader: the erase leaves the pointer where SET_ADDRESS put it
    ("argon", 0x000D4000, 0x000D7000),
])
def test_an_erase_between_blocks_moves_the_pointer_only_on_st_bootloaders(state_dir, profile, erased, then_at):
    dev = _opened(state_dir, profile)
    host = Dfu(dev)
    host.set_address(erased + 0x2000)
    host.erase(erased)
    host.dnload(3, b"\xA5" * 16)                     # block 3: pointer + 4096
    host.status(), host.status()
    assert dev.memory(0).peek(then_at, 16) == b"\xA5" * 16


@pytest.mark.parametrize("profile, base", [("photon:real=1", 0x08020000), ("argon", 0x000D4000),
                                           ("p2", 0x08500000)])
def test_upload_block_n_reads_from_pointer_plus_n_minus_2_times_4096_whatever_its_length(state_dir, profile, base):
    """The rule flash --usb reads every page's head by: one SET_ADDRESS, then a short UPLOAD per
    4 KiB step (device-os bootloader/src/*/usbd_dfu.cpp handleDfuUpload; ST's DFU_Req_UPLOAD)."""
    dev = _opened(state_dir, profile)
    for page in range(4):
        dev.memory(0).poke(base + page * 4096, bytes([page + 1]) * 64)
    host = Dfu(dev)
    host.set_address(base)
    host.abort()
    assert [host.upload(2 + page, 64) for page in (0, 3, 1)] == [b"\x01" * 64, b"\x04" * 64, b"\x02" * 64]
