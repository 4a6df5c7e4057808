"""The DfuSe engine as a library (no CLI), on the simulated Photon through the pyusb transport."""
import struct

import pytest

from particle_py.dfu import layout, protocol as p
from particle_py.dfu.engine import Behaviour, Dfuse, DfuDevice, DfuError, settle
from particle_py.sim import SimBus, create_state
from particle_py.sim.bus import read_log

PHOTON = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"


@pytest.fixture
def photon(tmp_path, monkeypatch):
    state = tmp_path / "state"
    create_state(state, ["photon"], {})
    monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
    from particle_py import usb as transport
    dev = transport.find_devices(idVendor=0x2B04)[0]
    dfu = DfuDevice(dev, 0)
    assert dfu.claim() == 0 and dfu.set_alt(0) == 0
    yield state, dfu
    import usb.util
    usb.util.dispose_resources(dev)
    transport.release_simulator()


def _dfuse_commands(state, dfu):
    import usb.util
    usb.util.dispose_resources(dfu.device)    # closing saves the simulator, log included
    out = []
    for e in read_log(state):
        if e.get("event") == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == p.DNLOAD:
            data = bytes.fromhex(e["data"])
            if e["wValue"] == 0:
                out.append(("cmd", data[0], struct.unpack("<I", data[1:5])[0] if len(data) == 5 else None))
            else:
                out.append(("data", e["wValue"], len(data)))
    return out


def test_download_across_sectors_erases_each_page_once_then_writes(photon):
    state, dfu = photon
    events = []
    assert settle(dfu).state == p.DFU_IDLE
    engine = Dfuse(dfu, 4096, layout.parse(PHOTON), emit=lambda kind, **kw: events.append((kind, kw)))
    data = bytes(range(256)) * 20                     # 5120 bytes from 0x0801FF00 into the next sector
    engine.download_element(0x0801FF00, data)
    engine.abort_to_idle()
    assert [kw["address"] for kind, kw in events if kind == "erase_page"] == [0x0801FF00, 0x08020EFF]
    got = []
    engine.upload(got.append, 0x0801FF00, len(data))
    assert b"".join(got) == data
    assert _dfuse_commands(state, dfu) == [
        ("cmd", 0x41, 0x0801FF00), ("cmd", 0x41, 0x08020EFF),
        ("cmd", 0x21, 0x0801FF00), ("data", 2, 4096), ("cmd", 0x21, 0x08020F00), ("data", 2, 1024),
        ("cmd", 0x21, 0x0801FF00)]


def test_interleaved_erase_of_old_releases(photon):
    state, dfu = photon
    engine = Dfuse(dfu, 4096, layout.parse(PHOTON), behaviour=Behaviour(two_pass_erase=False))
    engine.download_element(0x08020000, b"\xAA" * 5000)
    kinds = [(k, v) for k, v, _ in _dfuse_commands(state, dfu)]
    assert kinds == [("cmd", 0x41), ("cmd", 0x21), ("data", 2), ("cmd", 0x21), ("data", 2)]


def test_refuses_read_only_sector_unless_forced(photon):
    _, dfu = photon
    engine = Dfuse(dfu, 4096, layout.parse(PHOTON))
    with pytest.raises(DfuError) as info:
        engine.download_element(0x08000000, b"x" * 100)
    assert info.value.key == "last_page_not_writeable" and info.value.exit_code == 64
    assert str(info.value) == "Last page at 0x08000063 is not writeable"


def test_written_bytes_persist_in_the_simulator(photon):
    state, dfu = photon
    engine = Dfuse(dfu, 4096, layout.parse(PHOTON))
    engine.download_element(0x080A0000, b"firmware" * 100)
    import usb.util
    usb.util.dispose_resources(dfu.device)
    bus = SimBus.load(state)
    assert bus.devices()[0].memory(0).peek(0x080A0000, 800) == b"firmware" * 100
