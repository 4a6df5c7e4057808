"""Our dfu-util end to end on the simulator: exact output, exit status, bytes in flash."""
import pytest

from particle_py import __version__
from particle_py.dfu import dfuse_file, suffix

BANNER_011 = ("dfu-util 0.11\n\n"
              "Copyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
              "Copyright 2010-2021 Tormod Volden and Stefan Schmidt\n"
              "This program is Free Software and has ABSOLUTELY NO WARRANTY\n"
              f"Please report bugs to particle-py {__version__} (a Python re-implementation, not dfu-util)\n\n")

PROLOGUE_011 = ("Opening DFU capable USB device...\n"
                "Device ID 2b04:d006\n"
                "Device DFU version 011a\n"
                "Claiming USB DFU Interface...\n"
                "Setting Alternate Interface #{alt} ...\n"
                "Determining device status...\n"
                "DFU state(2) = dfuIDLE, status(0) = No error condition is present\n"
                "DFU mode device DFU version 011a\n"
                "Device returned transfer size 4096\n")

FIRMWARE = bytes((i * 7 + 3) & 0xFF for i in range(5000))


def test_version_prints_the_banner_only(sim):
    sim.make([])
    result = sim.run("-V")
    assert (result.status, result.out, result.err) == (0, BANNER_011, "")


def test_unknown_personality_is_refused(sim):
    sim.make([])
    result = sim.run("-l", version="0.7")
    assert result.status == 64 and result.out == ""
    assert result.err == "dfu-util: PARTICLE_PY_DFU_UTIL_VERSION='0.7' is not one of 0.8, 0.9, 0.10, 0.11\n"


def test_raw_download_output_and_flash(sim, tmp_path):
    sim.make(["photon"])
    (tmp_path / "work" / "fw.bin").write_bytes(FIRMWARE)
    result = sim.run("-a", "0", "-s", "0x08060000", "-D", "fw.bin")
    assert result.status == 0
    assert result.merged == (
        BANNER_011
        + "!dfu-util: Warning: Invalid DFU suffix signature\n"
          "!dfu-util: A valid DFU suffix will be required in a future dfu-util release\n"
        + PROLOGUE_011.format(alt=0)
        + 'DfuSe interface name: "Internal Flash   "\n'
          "Downloading element to address = 0x08060000, size = 5000\n"
          "\rErase   \t[                         ]   0%            0 bytes"
          "\rErase   \t[====================     ]  81%         4096 bytes"
          "\rErase   \t[=========================] 100%         5000 bytes\nErase    done.\n"
          "\rDownload\t[                         ]   0%            0 bytes"
          "\rDownload\t[====================     ]  81%         4096 bytes"
          "\rDownload\t[=========================] 100%         5000 bytes\nDownload done.\n"
          "File downloaded successfully\n")
    assert sim.memory(0, 0x08060000, 5000) == FIRMWARE


@pytest.mark.parametrize("version,lines", [
    ("0.8", ["ID 2b04:d006", "Run-time device DFU version 011a", "Setting Alternate Setting #0 ...",
             "Determining device status: state = dfuIDLE, status = 0", "dfuIDLE, continuing",
             "Downloading to address = 0x08060000, size = 5000"]),
    ("0.10", ["ID 2b04:d006", "Setting Alternate Setting #0 ...",
              "Downloading element to address = 0x08060000, size = 5000", "Erase    done."]),
])
def test_older_personalities_write_the_same_bytes(sim, tmp_path, version, lines):
    sim.make(["photon"])
    (tmp_path / "work" / "fw.bin").write_bytes(FIRMWARE)
    result = sim.run("-a", "0", "-s", "0x08060000", "-D", "fw.bin", version=version)
    assert result.status == 0
    for line in lines:
        assert line + "\n" in result.out
    assert ("Erase    done." in result.out) == (version != "0.8")
    assert sim.memory(0, 0x08060000, 5000) == FIRMWARE


def test_dct_write_at_small_address_then_read_back(sim, tmp_path):
    sim.make(["photon"])
    (tmp_path / "work" / "key.der").write_bytes(b"K" * 612)
    assert sim.run("-a", "1", "-s", "34", "-D", "key.der").status == 0
    result = sim.run("-a", "1", "-s", "34:612", "-U", "back.der")
    assert result.status == 0 and result.out.endswith(
        '"DCT Flash   "\n\rUpload\t[                         ]   0%            0 bytes'
        "\rUpload\t[=========================] 100%          612 bytes\nUpload done.\n")
    assert (tmp_path / "work" / "back.der").read_bytes() == b"K" * 612
    assert sim.memory(1, 34, 612) == b"K" * 612


@pytest.mark.parametrize("version,status", [("0.11", 73), ("0.10", 74), ("0.8", 74)])
def test_upload_never_overwrites(sim, tmp_path, version, status):
    sim.make(["photon"])
    (tmp_path / "work" / "keep.bin").write_bytes(b"mine")
    result = sim.run("-a", "0", "-s", "0x08000000:16", "-U", "keep.bin", version=version)
    assert result.status == status
    assert result.err == "dfu-util: Cannot open file keep.bin for writing: File exists\n"
    assert (tmp_path / "work" / "keep.bin").read_bytes() == b"mine"


@pytest.mark.parametrize("version,status", [("0.11", 64), ("0.9", 74)])
def test_read_only_bootloader_sector_is_refused_and_untouched(sim, tmp_path, version, status):
    sim.make(["photon"])
    before = sim.memory(0, 0x08000000, 100)
    (tmp_path / "work" / "fw.bin").write_bytes(b"\0" * 100)
    result = sim.run("-a", "0", "-s", "0x08000000", "-D", "fw.bin", version=version)
    assert result.status == status
    assert result.err.endswith("dfu-util: Last page at 0x08000063 is not writeable\n")
    assert sim.memory(0, 0x08000000, 100) == before


def test_argv0_basename_prefixes_messages(sim):
    sim.make([])
    result = sim.run("-a", "0", "-U", "x.bin", prog="/opt/bin/dfu-util")
    assert result.status == 74 and result.err == "dfu-util: No DFU capable USB device available\n"
    bad = sim.run("-y", prog="/opt/bin/dfu-util")       # getopt quotes argv[0] as given
    assert bad.status == 64 and bad.err.startswith("/opt/bin/dfu-util: invalid option -- 'y'\n")


def test_list_filters_by_device_and_alt(sim):
    sim.make(["photon", "stm32"])
    result = sim.run("-l", "-d", ",0483:df11", "-a", "1")
    assert result.status == 0 and result.out[len(BANNER_011):] == (
        'Found DFU: [0483:df11] ver=2200, devnum=6, cfg=1, intf=0, path="1-3", alt=1, '
        'name="@Option Bytes  /0x1FFFC000/01*016 e", serial="205F36825242"\n')


def test_dfuse_file_fills_both_alt_settings_in_011(sim, tmp_path):
    sim.make(["photon"])
    image = dfuse_file.build([(0, [(0x080A0000, FIRMWARE)]), (1, [(0x0C, b"dct!")])], 0x2B04, 0xD006)
    (tmp_path / "work" / "app.dfu").write_bytes(image)
    result = sim.run("-D", "app.dfu")
    assert result.status == 0 and result.err == ""
    assert "Setting Alternate Interface #1 ...\nParsing element 1, address = 0x0000000c, size = 4\n" in result.out
    assert sim.memory(0, 0x080A0000, 5000) == FIRMWARE and sim.memory(1, 0x0C, 4) == b"dct!"


def test_dfuse_file_with_alt_in_010_skips_other_images(sim, tmp_path):
    sim.make(["photon"])
    image = dfuse_file.build([(0, [(0x080A0000, FIRMWARE)]), (1, [(0x0C, b"dct!")])], 0x2B04, 0xD006)
    (tmp_path / "work" / "app.dfu").write_bytes(image)
    before = sim.memory(1, 0x0C, 4)
    result = sim.run("-a", "0", "-D", "app.dfu", version="0.10")
    assert result.status == 0
    assert "Warning: Image does not match current alternate setting.\n" in result.out
    assert sim.memory(0, 0x080A0000, 5000) == FIRMWARE and sim.memory(1, 0x0C, 4) == before


def test_file_suffix_for_another_device_is_refused(sim, tmp_path):
    sim.make(["dfu11"])
    (tmp_path / "work" / "fw.bin").write_bytes(suffix.make_suffix(FIRMWARE, 0x1234, 0x5678))
    result = sim.run("-d", "1209:0001", "-D", "fw.bin")
    assert result.status == 64
    assert result.err == ("dfu-util: Error: File ID 1234:5678 does not match device (1209:0001 or "
                          "1209:0001)\n")


def test_plain_dfu_failure_streams_and_exit_per_version(sim, tmp_path):
    (tmp_path / "work" / "fw.bin").write_bytes(FIRMWARE)
    sim.make(["dfu11"], {"FAKE_WRITE_FAIL_STATUS": "3"})
    new = sim.run("-D", "fw.bin")
    sim.make(["dfu11"], {"FAKE_WRITE_FAIL_STATUS": "3"})
    old = sim.run("-D", "fw.bin", version="0.10")
    tail = "\rDownload\t[                         ]   0%            0 bytes failed!\n"
    assert new.status == 74 and new.out.endswith(
        tail + "DFU state(10) = dfuERROR, status(3) = Device is unable to write memory\n")
    assert old.status == 0 and old.out.endswith(
        tail + "state(10) = dfuERROR, status(3) = Device is unable to write memory\n")


def test_dfuse_chunk_failure_goes_to_stderr_in_010(sim, tmp_path):
    (tmp_path / "work" / "fw.bin").write_bytes(FIRMWARE)
    sim.make(["photon"], {"FAKE_WRITE_FAIL_STATUS": "3"})
    result = sim.run("-a", "0", "-s", "0x08060000", "-D", "fw.bin", version="0.10")
    assert result.status == 74
    assert result.merged.endswith(
        "\rDownload\t[                         ]   0%            0 bytes"
        "! failed!\n!state(10) = dfuERROR, status(3) = Device is unable to write memory\n"
        "!dfu-util: Failed to write whole chunk: -1 of 4096 bytes\n")


def test_progress_clock_repaints_an_unchanged_bar_in_a_new_second(sim, tmp_path):
    sim.make(["dfu11"])
    ticks = iter(range(1000))
    result = sim.run("-U", "up.bin", clock=lambda: next(ticks))
    assert result.status == 0
    assert result.out.count("\rUpload\t[======================== ]  99%") == 2   # 1024 and 2048 bytes


def test_command_mode_leave_needs_010(sim):
    sim.make(["stm32"])
    result = sim.run("-a", "0", "-s", ":leave")
    assert result.status == 0 and result.out.endswith(
        "DfuSe command mode\nSubmitting leave request...\nTransitioning to dfuMANIFEST state\n")
    sim.make(["stm32"])
    old = sim.run("-a", "0", "-s", ":leave", version="0.9")
    assert old.status == 64 and old.err.startswith("You need to specify one of -D or -U\nUsage: dfu-util")


def test_advice_after_an_open_failure_only_when_asked(sim, monkeypatch):
    sim.make(["photon"], {"FAKE_OPEN_FAIL": "-3"})
    plain = sim.run("-a", "0", "-U", "x.bin", version="0.8")
    assert plain.status == 74 and plain.err == ("dfu-util: Cannot open DFU device 2b04:d006\n"
                                                "dfu-util: No DFU capable USB device available\n")
    monkeypatch.setenv("PARTICLE_PY_DFU_UTIL_HINTS", "1")
    helped = sim.run("-a", "0", "-U", "x.bin", version="0.8")
    assert helped.status == 74 and helped.err.startswith(plain.err)
    assert "udev" in helped.err[len(plain.err):] or "WinUSB" in helped.err[len(plain.err):]
