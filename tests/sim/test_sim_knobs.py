"""Every fault knob of the scenarios header, with the semantics the transcripts show."""
import pytest

from particle_py.sim import SimUsbError, knobs

from sim_helpers import Dfu, make_bus


def photon(state_dir, **k):
    dev = make_bus(state_dir, ["photon"], {f"FAKE_{n}": str(v) for n, v in k.items()}).devices()[0]
    dev.set_interface(0, 0)
    return dev


def test_open_fail(state_dir):
    dev = photon(state_dir, OPEN_FAIL=-3)
    with pytest.raises(SimUsbError) as e:
        dev.open()
    assert e.value.code == -3


def test_start_state_and_status(state_dir):
    assert Dfu(photon(state_dir, START_STATE=10, START_STATUS=10)).status() == (10, 0, 10)


def test_start_state_dnload_idle_then_abort(state_dir):
    dev = photon(state_dir, START_STATE=5)
    host = Dfu(dev)
    assert host.status() == (0, 0, 5)
    host.abort()
    assert host.status() == (0, 0, 2)


def test_write_fail_status_on_first_data_block(state_dir):
    dev = photon(state_dir, WRITE_FAIL_STATUS=3)
    host = Dfu(dev)
    host.erase(0x08020000)
    assert host.write(0x08020000, b"\x00" * 4096)[-1] == (3, 0, 10)


def test_erase_fail_status(state_dir):
    assert Dfu(photon(state_dir, ERASE_FAIL_STATUS=4)).erase(0x08020000) == [(0, 1, 4), (4, 0, 10)]


def test_no_dnbusy_after_commands(state_dir):
    host = Dfu(photon(state_dir, NO_DNBUSY=1))
    host.dnload(0, b"\x41\x00\x00\x02\x08")
    assert host.status() == (0, 0, 5)


def test_dnload_err_hits_data_blocks_not_commands(state_dir):
    host = Dfu(photon(state_dir, DNLOAD_ERR=-9))
    assert host.erase(0x08020000)[1] == (0, 0, 5)
    host.set_address(0x08020000)
    with pytest.raises(SimUsbError) as e:
        host.dnload(2, b"\x00" * 16)
    assert e.value.code == -9


def test_upload_err(state_dir):
    dev = make_bus(state_dir, ["dfu11"], {"FAKE_UPLOAD_ERR": "-9"}).devices()[0]
    with pytest.raises(SimUsbError) as e:
        Dfu(dev).upload(0, 1024)
    assert e.value.code == -9


def test_leave_err(state_dir):
    dev = photon(state_dir, LEAVE_ERR=-1)
    host = Dfu(dev)
    host.set_address(0x08020000)
    host.dnload(2, b"")
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == -1 and dev.gone


def test_leave_state(state_dir):
    host = Dfu(photon(state_dir, LEAVE_STATE=5))
    host.set_address(0x08020000)
    host.dnload(2, b"")
    assert host.status() == (0, 0, 5)


def test_tsize_changes_block_addressing(state_dir):
    dev = photon(state_dir, TSIZE=1024)
    host = Dfu(dev)
    host.erase(0x08020000)
    host.set_address(0x08020000)
    host.dnload(3, b"\x01" * 4)
    host.status(), host.status()
    assert dev.memory(0).peek(0x08020400, 4) == b"\x01" * 4


def test_unplug_after_n_transfers(state_dir):
    dev = photon(state_dir, UNPLUG_AFTER=2)
    host = Dfu(dev)
    host.status(), host.status()
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == -4


def test_stall_and_timeout_on_a_request(state_dir):
    host = Dfu(photon(state_dir, STALL_REQUEST=3))
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == -9
    host = Dfu(make_bus(state_dir, ["photon"], {"FAKE_TIMEOUT_REQUEST": "1"}).devices()[0])
    with pytest.raises(SimUsbError) as e:
        host.dnload(0, b"\x21\x00\x00\x02\x08")
    assert e.value.code == -7


def test_per_device_knobs_in_the_profile_string(state_dir):
    bus = make_bus(state_dir, ["photon:FAKE_LEAVE_STATE=5", "photon"])
    first, second = bus.devices()
    assert first.knobs == {"LEAVE_STATE": 5} and second.knobs == {}


def test_every_header_knob_is_in_the_table():
    header = ["OPEN_FAIL", "START_STATE", "START_STATUS", "WRITE_FAIL_STATUS", "ERASE_FAIL_STATUS", "NO_DNBUSY",
              "DNLOAD_ERR", "UPLOAD_ERR", "TSIZE", "LEAVE_ERR", "LEAVE_STATE"]
    assert set(header) <= set(knobs.BY_NAME)
    assert knobs.normalize({"FAKE_TSIZE": "0x400", "leave_state": 5}) == {"TSIZE": 1024, "LEAVE_STATE": 5}
    with pytest.raises(ValueError):
        knobs.normalize({"FAKE_NOPE": "1"})


def test_poll_timeout_busy_polls_and_busy_stalls(state_dir):
    host = Dfu(photon(state_dir, POLL_TIMEOUT=100, BUSY_POLLS=2))
    host.dnload(0, b"\x41")                                    # mass erase
    assert [host.status() for _ in range(4)] == [(0, 100, 4), (0, 100, 4), (0, 100, 4), (0, 0, 5)]
    dev = photon(state_dir, BUSY_STALLS=1)
    host = Dfu(dev)
    host.dnload(0, b"\x41\x00\x00\x02\x08")
    assert host.status() == (0, 1, 4)
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == -9
    assert host.status() == (0, 0, 5)                          # the stall did not put it in dfuERROR


# --- the ends of plain DFU 1.1 transfers (issue 15) ------------------------------------------------

def dfu11(state_dir, profile="dfu11", **k):
    return make_bus(state_dir, [profile], {f"FAKE_{n}": str(v) for n, v in k.items()}).devices()[0]


def test_upload_packets_short_zero_length_capped_and_overflowing(state_dir):
    host = Dfu(dfu11(state_dir, IMAGE_SIZE=2048, UPLOAD_SHORT="100@1"))
    assert [len(host.upload(b, 1024)) for b in range(3)] == [1024, 100, 0]      # block 2: past the image
    host = Dfu(dfu11(state_dir, UPLOAD_MAX=512))
    assert len(host.upload(0, 2048)) == 512
    host = Dfu(dfu11(state_dir, UPLOAD_ERR_AT="-8@1"))
    assert len(host.upload(0, 1024)) == 1024
    with pytest.raises(SimUsbError) as e:
        host.upload(1, 1024)
    assert e.value.code == -8


def test_dnload_error_at_the_zero_length_block(state_dir):
    host = Dfu(dfu11(state_dir, DNLOAD_ERR_AT="-9@1"))
    host.dnload(0, b"\x00" * 1024)
    assert host.status() == (0, 1, 4)            # dfuDNBUSY
    assert host.status() == (0, 0, 5)
    with pytest.raises(SimUsbError) as e:
        host.dnload(1, b"")
    assert e.value.code == -9 and host.status() == (15, 0, 10)


@pytest.mark.parametrize("knob,value,first", [
    ("MANIFEST_STATUS", 7, (7, 0, 10)),          # manifestation failed: dfuERROR, errVERIFY
    ("MANIFEST_SHORT", 3, None),
])
def test_status_after_the_zero_length_block(state_dir, knob, value, first):
    dev = dfu11(state_dir, **{knob: value})
    host = Dfu(dev)
    host.dnload(0, b"\x01" * 10)
    host.status(), host.status()
    host.dnload(1, b"")
    if first is None:
        assert len(dev.control(0xA1, 3, 0, 0, b"", 6)) == 3
    else:
        assert host.status() == first


def test_manifest_err_device_resets_itself_keeping_the_image(state_dir):
    dev = dfu11(state_dir, MANIFEST_ERR=-4)
    host = Dfu(dev)
    host.dnload(0, b"\x01" * 10)
    host.status(), host.status()
    host.dnload(1, b"")
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == -4 and dev.gone and dev.successor == "dfu11"
    assert dev._image() == b"\x01" * 10


def test_reset_reenumerates(state_dir):
    dev = dfu11(state_dir, "dfu11nt", RESET_REENUMERATES=1)
    dev.reset()
    assert dev.gone and dev.successor == "dfu11nt"
