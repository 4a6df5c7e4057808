"""scripts/umockdev-run: the simulated devices as the real libusb sees them.

Clients here are the real /usr/bin/dfu-util and pyusb (with the system libusb and with
libusb-package's own libusb), run as children of umockdev-run. Assertions are on what they
print, their exit status, the requests the device saw and the bytes the device holds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.umockdev

BANNER = ("dfu-util 0.11\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
          "Copyright 2010-2021 Tormod Volden and Stefan Schmidt\n"
          "This program is Free Software and has ABSOLUTELY NO WARRANTY\n"
          "Please report bugs to http://sourceforge.net/p/dfu-util/tickets/\n\n")
PHOTON_LIST = (
    'Found DFU: [2b04:d006] ver=0200, devnum=5, cfg=1, intf=0, path="1-2", alt=1, '
    'name="@DCT Flash   /0x00000000/01*016Kg", serial="00000000010C"\n'
    'Found DFU: [2b04:d006] ver=0200, devnum=5, cfg=1, intf=0, path="1-2", alt=0, '
    'name="@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg", serial="00000000010C"\n')


def run(umockdev, args, cwd, *command, check_rc=None):
    proc = subprocess.run([str(umockdev), *args, "--", *command], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


def wire(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exit_status_is_the_commands_and_nothing_else_is_printed(umockdev, tmp_path):
    proc = run(umockdev, [], tmp_path, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "out\n", "err\n")


def test_killed_command_gives_128_plus_signal(umockdev, tmp_path):
    proc = run(umockdev, [], tmp_path, "sh", "-c", "kill -TERM $$")
    assert proc.returncode == 128 + 15


def test_missing_command_is_127(umockdev, tmp_path):
    proc = run(umockdev, [], tmp_path, "no-such-command-here")
    assert proc.returncode == 127
    assert "cannot run no-such-command-here" in proc.stderr


def test_real_dfu_util_lists_the_default_photon(umockdev, real_dfu_util, tmp_path):
    proc = run(umockdev, [], tmp_path, real_dfu_util, "-l", check_rc=0)
    assert proc.stdout == BANNER + PHOTON_LIST


def test_no_device_with_empty_profile(umockdev, real_dfu_util, tmp_path):
    proc = run(umockdev, ["--profile", ""], tmp_path, real_dfu_util, "-l", check_rc=0)
    assert proc.stdout == BANNER


def test_several_devices_in_libusb_order(umockdev, real_dfu_util, tmp_path):
    proc = run(umockdev, ["--profile", "photon", "--profile", "dfu11"], tmp_path, real_dfu_util, "-l",
               check_rc=0)
    assert proc.stdout == BANNER + PHOTON_LIST + (
        'Found DFU: [1209:0001] ver=0100, devnum=6, cfg=1, intf=0, path="1-3", alt=0, name="Flash", '
        'serial="ABC123"\n')


def test_download_then_upload_on_a_persistent_state(umockdev, real_dfu_util, tmp_path):
    state = tmp_path / "state"
    firmware = bytes((i * 7 + 3) & 0xFF for i in range(10000))
    (tmp_path / "fw.bin").write_bytes(firmware)
    run(umockdev, ["--state", str(state), "--profile", "photon"], tmp_path,
        real_dfu_util, "-a", "0", "-s", "0x08020000", "-D", "fw.bin", check_rc=0)
    # a second process, same device: the flash kept what the first one wrote
    run(umockdev, ["--state", str(state)], tmp_path,
        real_dfu_util, "-a", "0", "-s", "0x08020000:10000", "-U", "back.bin", check_rc=0)
    assert (tmp_path / "back.bin").read_bytes() == firmware
    run(umockdev, ["--state", str(state)], tmp_path,
        real_dfu_util, "-a", "0", "-s", "0x0801F000:4096", "-U", "before.bin", check_rc=0)
    assert (tmp_path / "before.bin").read_bytes() == b"\xff" * 4096


def test_requests_on_the_wire_are_logged(umockdev, real_dfu_util, tmp_path):
    (tmp_path / "dct.bin").write_bytes(b"\x5a" * 100)
    log = tmp_path / "wire.jsonl"
    run(umockdev, ["--log", str(log)], tmp_path,
        real_dfu_util, "-a", "1", "-s", "34", "-D", "dct.bin", check_rc=0)
    entries = wire(log)
    assert {"op": "setinterface", "dev": "1-2", "intf": 0, "alt": 1} in entries
    dnloads = [(e["wValue"], e["data"]) for e in entries
               if e["op"] == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == 1]
    # DfuSe SET_ADDRESS 34 (0x21, little-endian address), then the data as block 2
    assert (0, "2122000000") in dnloads
    assert (2, "5a" * 100) in dnloads


def test_runtime_device_detaches_and_re_enumerates(umockdev, real_dfu_util, tmp_path):
    firmware = bytes(range(256)) * 20
    (tmp_path / "fw.bin").write_bytes(firmware)
    log = tmp_path / "wire.jsonl"
    state = tmp_path / "state"
    proc = run(umockdev, ["--profile", "runtime", "--state", str(state), "--log", str(log)], tmp_path,
               real_dfu_util, "-E", "0", "-D", "fw.bin", check_rc=0)
    assert "Device really in Run-Time Mode, send DFU detach request...\nResetting USB...\n" \
           "Opening DFU USB Device...\n" in proc.stdout
    events = [(e["op"], e["dev"]) for e in wire(log) if e["op"] in ("attach", "detach", "reset")]
    assert events == [("attach", "1-2"), ("reset", "1-2"), ("detach", "1-2"), ("attach", "1-2")]
    attaches = [e for e in wire(log) if e["op"] == "attach"]
    assert [(e["vid"], e["pid"]) for e in attaches] == [(0x1209, 0x0002), (0x1209, 0x0001)]
    # the DFU-mode device holds the image: read it back in a new session
    run(umockdev, ["--state", str(state)], tmp_path, real_dfu_util, "-U", "back.bin", check_rc=0)
    assert (tmp_path / "back.bin").read_bytes()[:len(firmware)] == firmware


def test_open_failure_is_a_real_open_failure(umockdev, real_dfu_util, tmp_path):
    proc = run(umockdev, ["--fault", "FAKE_OPEN_FAIL=-3"], tmp_path, real_dfu_util, "-l", check_rc=0)
    assert proc.stdout == BANNER
    assert proc.stderr == "dfu-util: Cannot open DFU device 2b04:d006 found on devnum 5 (LIBUSB_ERROR_ACCESS)\n"


def test_dfuse_leave_makes_the_device_vanish(umockdev, real_dfu_util, tmp_path):
    (tmp_path / "fw.bin").write_bytes(b"\x11" * 5000)
    state = tmp_path / "state"
    run(umockdev, ["--state", str(state), "--profile", "photon"], tmp_path,
        real_dfu_util, "-a", "0", "-s", "0x08020000:leave", "-D", "fw.bin", check_rc=0)
    # the Photon left DFU mode: it is a normal-mode device now, no DFU interface in DFU mode
    proc = run(umockdev, ["--state", str(state)], tmp_path, real_dfu_util, "-l", check_rc=0)
    assert "Found DFU" not in proc.stdout


PYUSB_PROBE = textwrap.dedent("""
    import sys, usb.core, usb.util, usb.backend.libusb1
    if sys.argv[1] == "package":
        import libusb_package
        backend = libusb_package.get_libusb1_backend()
    else:
        backend = usb.backend.libusb1.get_backend(find_library=lambda name: "libusb-1.0.so.0")
    for dev in usb.core.find(find_all=True, backend=backend):
        serial = usb.util.get_string(dev, dev.iSerialNumber)
        status = bytes(dev.ctrl_transfer(0xA1, 3, 0, 0, 6))
        print("%04x:%04x %s %s %s" % (dev.idVendor, dev.idProduct, dev.bus, serial, status.hex()))
""")


@pytest.mark.parametrize("libusb", ["package", "system"])
def test_pyusb_over_the_real_libusb(umockdev, tmp_path, libusb):
    probe = tmp_path / "probe.py"
    probe.write_text(PYUSB_PROBE)
    proc = run(umockdev, ["--profile", "photon,dfu11"], tmp_path, sys.executable, str(probe), libusb, check_rc=0)
    assert sorted(proc.stdout.splitlines()) == ["1209:0001 1 ABC123 000000000200",
                                                "2b04:d006 1 00000000010C 000000000200"]


def test_normal_mode_particle_device_is_visible(umockdev, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""
        import usb.core, usb.backend.libusb1
        backend = usb.backend.libusb1.get_backend(find_library=lambda name: "libusb-1.0.so.0")
        print(["%04x:%04x" % (d.idVendor, d.idProduct) for d in usb.core.find(find_all=True, backend=backend)])
    """))
    proc = run(umockdev, ["--platform", "photon-normal"], tmp_path, sys.executable, str(probe), check_rc=0)
    assert proc.stdout == "['2b04:c006']\n"


def test_umockdev_run_usage_errors(umockdev, tmp_path):
    proc = subprocess.run([str(umockdev), "--profile", "photon"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0 and "usage: umockdev-run" in proc.stderr
    proc = run(umockdev, ["--fault", "NOPE=1"], tmp_path, "true")
    assert proc.returncode != 0 and "NOPE" in proc.stderr


def test_child_does_not_see_the_in_process_simulator(umockdev, tmp_path):
    env = dict(os.environ, PARTICLE_PY_SIM=str(tmp_path / "elsewhere"))
    proc = subprocess.run([str(umockdev), "--", "sh", "-c", 'echo "[${PARTICLE_PY_SIM-unset}]"'],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.stdout == "[unset]\n"


def test_platform_is_the_real_bootloader_and_order_is_kept(umockdev, real_dfu_util, tmp_path):
    proc = run(umockdev, ["--platform", "photon", "--profile", "dfu11",
                          "--platform", "p1:id=0123456789abcdef01234567,leave=reset"], tmp_path,
               real_dfu_util, "-l", check_rc=0)
    found = [line.split(", name=")[0] + " " + line.split("serial=")[1] for line in proc.stdout.splitlines()
             if line.startswith("Found")]
    assert found == [
        'Found DFU: [2b04:d006] ver=0250, devnum=5, cfg=1, intf=0, path="1-2", alt=1 "41260b25e737e0ad2476a9eb"',
        'Found DFU: [2b04:d006] ver=0250, devnum=5, cfg=1, intf=0, path="1-2", alt=0 "41260b25e737e0ad2476a9eb"',
        'Found DFU: [1209:0001] ver=0100, devnum=6, cfg=1, intf=0, path="1-3", alt=0 "ABC123"',
        'Found DFU: [2b04:d008] ver=0250, devnum=7, cfg=1, intf=0, path="1-4", alt=1 "0123456789abcdef01234567"',
        'Found DFU: [2b04:d008] ver=0250, devnum=7, cfg=1, intf=0, path="1-4", alt=0 "0123456789abcdef01234567"',
    ]


def test_a_device_that_comes_back_later_is_found_after_waiting(umockdev, real_dfu_util, tmp_path):
    # the model's re-enumeration delay counts on the wall clock here; dfu-util -E 2 waits 2 s
    (tmp_path / "fw.bin").write_bytes(b"\x22" * 3000)
    proc = run(umockdev, ["--profile", "runtime", "--fault", "FAKE_REENUM_DELAY_MS=200"], tmp_path,
               real_dfu_util, "-E", "2", "-D", "fw.bin", check_rc=0)
    assert proc.stdout.endswith("Done!\n")


def test_a_serial_port_follows_its_device_through_dfu_mode_and_back(umockdev, tmp_path):
    """Re-enumeration with a tty: the tty goes before its USB device (DFU mode has none), and the
    device that comes back gets a tty again, under a name the testbed has not used."""
    import os

    bin_dir = Path(sys.executable).parent
    state = tmp_path / "state"
    subprocess.run([str(bin_dir / "particle-sim"), "create", "photon"], check=True, capture_output=True,
                   env={**os.environ, "PARTICLE_PY_SIM": str(state)}, cwd=tmp_path)
    tty = "ls /sys/class/tty 2>/dev/null; echo --"
    script = (f'{tty}; "{bin_dir / "particle"}" usb dfu >/dev/null && {tty}; '
              f'"{bin_dir / "particle"}" usb reset >/dev/null && sleep 1 && {tty}')
    proc = run(umockdev, ["--state", str(state)], tmp_path, "sh", "-c", script, check_rc=0)
    before, in_dfu, after = (part.split() for part in proc.stdout.split("--\n")[:3])
    assert (before, in_dfu, after) == (["ttyACM0"], [], ["ttyACM1"])
