"""Attach order, persistence between processes, re-enumeration, the log."""
import json
import os
import subprocess
import sys
from pathlib import Path

from particle_py.sim import SimBus, create_state, read_log

from sim_helpers import Dfu, make_bus

REPO = str(Path(__file__).resolve().parents[2])
CHILD_ENV = {**os.environ, "PYTHONPATH": REPO}      # the child process imports this checkout


def test_attach_order_ports_and_devnums(state_dir):
    bus = make_bus(state_dir, ["photon", "stm32", "dfu11", "runtime"])
    assert [(d.path, d.devnum, f"{d.vid:04x}:{d.pid:04x}") for d in bus.devices()] == [
        ("1-2", 5, "2b04:d006"), ("1-3", 6, "0483:df11"), ("1-4", 7, "1209:0001"), ("1-5", 8, "1209:0002")]


def test_flash_and_state_persist_across_loads(state_dir):
    bus = make_bus(state_dir, ["photon"])
    host = Dfu(bus.devices()[0])
    host.erase(0x08020000)
    host.write(0x08020000, b"persisted")
    bus.save()
    again = SimBus.load(state_dir)
    dev = again.devices()[0]
    assert dev.memory(0).peek(0x08020000, 9) == b"persisted"
    assert Dfu(dev).status() == (0, 0, 5)          # still in dfuDNLOAD-IDLE: the host must abort
    assert dev.flash_time_us == bus.devices()[0].flash_time_us > 0
    third = SimBus.load(state_dir)
    assert third.devices()[0].memory(0).peek(0x08020000, 9) == b"persisted"


def test_another_process_sees_the_same_device(state_dir):
    bus = make_bus(state_dir, ["argon"])
    dev = bus.devices()[0]
    dev.memory(2).poke(0x80000000, b"external")
    bus.save()
    code = ("import sys; from particle_py.sim import SimBus; b = SimBus.load(sys.argv[1]); "
            "d = b.devices()[0]; print(d.memory(2).peek(0x80000000, 8).decode()); "
            "d.memory(0).poke(0x30000, b'child'); b.save()")
    out = subprocess.run([sys.executable, "-c", code, str(state_dir)], capture_output=True, text=True, check=True,
                         env=CHILD_ENV)
    assert out.stdout.strip() == "external"
    assert SimBus.load(state_dir).devices()[0].memory(0).peek(0x30000, 5) == b"child"


def test_runtime_detach_and_reset_reenumerates_as_dfu11(state_dir):
    bus = make_bus(state_dir, ["photon", "runtime"])
    rt = bus.devices()[1]
    assert Dfu(rt, intf=1).status() == (0, 0, 0)    # appIDLE
    rt.control(0x21, 0, 1000, 1, b"", 0)            # DETACH
    assert Dfu(rt, intf=1).status() == (0, 0, 1)    # appDETACH
    rt.reset()
    devices = bus.devices()
    assert [(d.profile.name, d.path, d.devnum) for d in devices] == [("photon", "1-2", 5), ("dfu11", "1-3", 7)]
    bus.save()
    assert [d.profile.name for d in SimBus.load(state_dir).devices()] == ["photon", "dfu11"]


def test_leave_with_device_os_reboots_into_normal_mode_with_its_flash(state_dir):
    from particle_py.platforms import by_name
    from particle_py.sim import contents
    bus = make_bus(state_dir, ["boron:id=e00fce68eedc3c3f17f89017"])
    dev = bus.devices()[0]
    for address, module in contents.device_os(by_name("boron"), "4.1.0"):
        dev.memory(0).poke(address, module)
    host = Dfu(dev)
    host.erase(0x000D4000)
    host.write(0x000D4000, b"user app")
    host.dnload(2, b"")
    assert host.status()[2] == 7
    normal = bus.devices()[0]
    assert (normal.vid, normal.pid, normal.serial) == (0x2B04, 0xC00D, "e00fce68eedc3c3f17f89017")
    assert normal.memory(0).peek(0x000D4000, 8) == b"user app"
    assert [e["mode"] for e in dev.log if e["event"] == "boot"] == ["safe"]   # "user app" is no module


def test_leave_without_device_os_comes_back_in_dfu_mode(state_dir):
    bus = make_bus(state_dir, ["boron:id=e00fce68eedc3c3f17f89017"])
    dev = bus.devices()[0]
    host = Dfu(dev)
    host.set_address(0x000D4000)
    host.dnload(2, b"")
    assert host.status()[2] == 7
    again = bus.devices()[0]
    assert again is not dev and (again.pid, again.serial, again.devnum) == (0xD00D, dev.serial, 6)
    boot = [e for e in dev.log if e["event"] == "boot"][0]
    assert boot["mode"] == "dfu" and "0x00030000" in boot["reason"]


def test_boot_normal_option_skips_the_firmware_check(state_dir):
    bus = make_bus(state_dir, ["argon:boot=normal"])
    host = Dfu(bus.devices()[0])
    host.set_address(0x000D4000)
    host.dnload(2, b"")
    host.status()
    assert bus.devices()[0].pid == 0xC00C


def test_a_2015_gen2_bootloader_resets_at_once_on_leave(state_dir):
    import pytest
    from particle_py.sim import SimUsbError
    bus = make_bus(state_dir, ["electron:bl=2015"])
    assert (bus.devices()[0].profile.bcd_device, bus.devices()[0].profile.serial) == (0x0200, "00000000010C")
    host = Dfu(bus.devices()[0])
    host.set_address(0x08080000)
    host.dnload(2, b"")
    with pytest.raises(SimUsbError) as e:
        host.status()
    assert e.value.code == -1
    assert bus.devices()[0].pid == 0xD00A        # no Device OS on it: the bootloader stays in DFU


def test_todays_gen2_bootloader_answers_leave_with_dnload_idle(state_dir):
    bus = make_bus(state_dir, ["electron"])
    dev = bus.devices()[0]
    assert (dev.profile.bcd_device, dev.profile.serial) == (0x0250, dev.profile.device_id)
    host = Dfu(dev)
    host.set_address(0x08080000)
    host.dnload(2, b"")
    assert host.status()[2] == 5                 # dfuDNLOAD-IDLE "to please dfu-util", then it resets
    assert bus.devices()[0].pid == 0xD00A


def test_log_records_every_control_transfer(state_dir):
    bus = make_bus(state_dir, ["photon"])
    dev = bus.devices()[0]
    Dfu(dev).erase(0x08020000)
    bus.save()
    controls = [e for e in read_log(state_dir) if e["event"] == "control"]
    assert [(e["bmRequestType"], e["bRequest"], e["wValue"], e["data"]) for e in controls] == [
        (0x21, 1, 0, "4100000208"), (0xA1, 3, 0, ""), (0xA1, 3, 0, "")]
    assert controls[1]["reply"] == "000100000400"
    assert json.dumps(controls)                        # plain JSON, readable by any test


def test_sleep_ms_advances_modelled_clock_only(state_dir):
    bus = make_bus(state_dir, ["photon"])
    bus.sleep_ms(1500)
    bus.save()
    assert SimBus.load(state_dir).clock_us == 1_500_000


def test_create_state_replaces_previous_state(state_dir):
    bus = make_bus(state_dir, ["photon"])
    bus.devices()[0].memory(0).poke(0x08020000, b"old")
    bus.save()
    create_state(state_dir, ["photon", "photon"], {})
    bus = SimBus.load(state_dir)
    assert len(bus.devices()) == 2
    assert bus.devices()[0].memory(0).peek(0x08020000, 3) == b"\xff" * 3


def test_profile_options_survive_comma_separated_lists(state_dir):
    bus = make_bus(state_dir, "photon:real=1,id=3a0035000f47343432313031,argon,stm32".split(","))
    names = [(d.profile.name, d.serial) for d in bus.devices()]
    assert names[0] == ("photon", "3a0035000f47343432313031")
    assert [n for n, _ in names] == ["photon", "argon", "stm32"]
    assert bus.devices()[0].profile.protect                 # real=1 reached the photon


def test_two_processes_saving_at_once_leave_a_readable_state(state_dir):
    make_bus(state_dir, ["photon", "argon"])
    code = ("import sys; from particle_py.sim import SimBus\n"
            "for i in range(15):\n"
            "    b = SimBus.load(sys.argv[1]); d = b.devices()[int(sys.argv[2])]\n"
            "    d.control(0xA1, 3, 0, 0, b'', 6); d.memory(0).poke(d.memory(0).layout.base + 0x20000 + i, b'x')\n"
            "    b.save()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state_dir), str(n)], env=CHILD_ENV)
             for n in (0, 1)]
    assert [p.wait() for p in procs] == [0, 0]
    bus = SimBus.load(state_dir)                      # parses: no torn JSON
    assert [d.profile.name for d in bus.devices()] == ["photon", "argon"]
    assert len([e for e in read_log(state_dir) if e["event"] == "control"]) == 30


def test_session_holds_the_lock_from_load_to_save(state_dir):
    make_bus(state_dir, ["photon"])
    code = ("import sys; from particle_py.sim import SimBus\n"
            "with SimBus.session(sys.argv[1]) as b:\n"
            "    m = b.devices()[0].memory(0); n = m.peek(0x08020000, 1)[0]\n"
            "    m.poke(0x08020000, bytes([(n + 1) & 0xFF]))\n")
    with SimBus.session(state_dir) as bus:
        bus.devices()[0].memory(0).poke(0x08020000, b"\x00")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state_dir)], env=CHILD_ENV) for _ in range(4)]
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    assert SimBus.load(state_dir).devices()[0].memory(0).peek(0x08020000, 1) == b"\x04"   # no lost update
