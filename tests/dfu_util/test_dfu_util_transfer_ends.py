"""The ends of plain DFU 1.1 transfers, per dfu-util release (issue 15).

0.11 is compared with the real binary by the differential (tests/umockdev/differential.py, the
``dfu11-ends_*`` cases). 0.8, 0.9 and 0.10 have no binary here: every expected text below is
derived from their sources (artynet/dfu-util-official at tags v0.8 a50f0b16, v0.9 1d2bec5f,
v0.10 37a393df, v0.11 51346878), function by function, as cited on each test. The device is
the simulator's ``dfu11``: wTransferSize 1024, 3000 bytes to upload, manifestation tolerant
(``dfu11nt``: not tolerant); the knobs are particle_py/sim/knobs.py's.
"""
import json

import pytest

FIRMWARE_3072 = bytes((i * 5 + 1) & 0xFF for i in range(3072))
IMAGE = bytes((i * 7 + 3) & 0xFF for i in range(3000))   # what a fresh dfu11 uploads

BAR = "\r{label}\t[{fill}] {pct:3d}% {curr:12d} bytes"


def bar(label, curr, maximum):
    """dfu_file.c dfu_progress_bar, for the expected texts."""
    if maximum < curr:
        maximum = curr + 1
    if maximum == 0 and curr == 0:
        maximum = 1
    fill = min(25, 25 * curr // maximum)
    text = BAR.format(label=label, fill="=" * fill + " " * (25 - fill), pct=100 * curr // maximum, curr=curr)
    return text + (f"\n{label} done.\n" if fill == 25 else "")


# dfuload_do_dnload repaints (bytes_sent, bytes_sent + bytes_left), bytes_left taken before the block
DOWNLOAD_3072 = ("Copying data from PC to DFU device\n" + bar("Download", 0, 1) + bar("Download", 1024, 4096)
                 + bar("Download", 2048, 4096) + bar("Download", 3072, 4096) + bar("Download", 3072, 3072))


def tail(result, marker):
    merged = result.merged
    return merged[merged.index(marker):]


def wire(sim):
    """The DFU class requests the device saw: (bRequest, wValue, wLength, reply bytes), and resets."""
    out = []
    for line in (sim.path / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("event") == "control" and entry["bmRequestType"] & 0x60 == 0x20:
            out.append((entry["bRequest"], entry["wValue"], entry["wLength"],
                        None if entry.get("reply") is None else len(bytes.fromhex(entry["reply"]))))
        elif entry.get("event") == "reset":
            out.append("reset")
    return out


def image_held(sim):
    path = sim.path / "unit0-image.bin"
    return path.read_bytes() if path.exists() else None


@pytest.fixture
def fw(tmp_path):
    (tmp_path / "work" / "fw3072.bin").write_bytes(FIRMWARE_3072)
    return "fw3072.bin"


# --- uploads: dfu_load.c dfuload_do_upload and main.c MODE_UPLOAD ------------------------------

@pytest.mark.parametrize("version,end,status", [
    # 0.8/0.9: warnx("Error during upload"); goto out_free: dfu_progress_bar(total, total) draws a
    # full bar ("Upload done."); "Received a total" only with -v; main: exit(1)
    ("0.8", "!dfu-util: Error during upload\n" + bar("Upload", 1024, 1024), 1),
    ("0.9", "!dfu-util: Error during upload\n" + bar("Upload", 1024, 1024), 1),
    # 0.10+: warnx("\nError during upload (%s)"); the bar stays (total, expected), then "\n";
    # total != 0: "Received a total of N bytes" (not "Failed."); 0.10 main: exit(1), 0.11: EX_IOERR
    ("0.10", "!dfu-util: \n!Error during upload (LIBUSB_ERROR_PIPE)\n\nReceived a total of 1024 bytes\n", 1),
    ("0.11", "!dfu-util: \n!Error during upload (LIBUSB_ERROR_PIPE)\n\nReceived a total of 1024 bytes\n", 74),
])
def test_upload_error_after_a_full_block(sim, version, end, status):
    sim.make(["dfu11"], {"FAKE_UPLOAD_ERR_AT": "-9@1"})
    result = sim.run("-U", "up.bin", version=version)
    assert result.status == status
    assert tail(result, "Copying") == ("Copying data from DFU device to PC\n" + bar("Upload", 0, 1)
                                       + bar("Upload", 1024, 0) + end)
    assert (sim.path.parent / "work" / "up.bin").read_bytes() == IMAGE[:1024]


@pytest.mark.parametrize("version,status,last", [
    # 0.8/0.9: the -Z check is an errx(EX_SOFTWARE) that runs before the upload error is returned
    ("0.9", 70, "!dfu-util: Unexpected number of bytes uploaded from device\n"),
    # 0.10+: a warnx, then the error's own exit status
    ("0.10", 1, "!dfu-util: Unexpected number of bytes uploaded from device\n"),
    ("0.11", 74, "!dfu-util: Unexpected number of bytes uploaded from device\n"),
])
def test_upload_size_check_after_an_error(sim, version, status, last):
    sim.make(["dfu11"], {"FAKE_UPLOAD_ERR_AT": "-8@2"})
    result = sim.run("-Z", "3000", "-U", "up.bin", version=version)
    assert result.status == status
    assert result.merged.endswith(last)
    assert ("LIBUSB_ERROR_OVERFLOW" in result.err) == (version != "0.9")


@pytest.mark.parametrize("version,end", [
    # 0.8/0.9: "\nFailed.\n" when nothing came, and with -v "Received a total of 0 bytes" after it
    ("0.8", "\nFailed.\nReceived a total of 0 bytes\n"),
    ("0.9", "\nFailed.\nReceived a total of 0 bytes\n"),
    # 0.10+: "Failed." or "Received a total", never both
    ("0.10", "\nFailed.\n"),
    ("0.11", "\nFailed.\n"),
])
def test_empty_upload_says_failed_and_exits_0(sim, version, end):
    sim.make(["dfu11"], {"FAKE_IMAGE_SIZE": "0"})
    result = sim.run("-v", "-U", "up.bin", version=version)
    assert result.status == 0
    assert tail(result, "Copying") == "Copying data from DFU device to PC\n" + bar("Upload", 0, 1) + end
    assert wire(sim)[-1] == (2, 0, 1024, 0)


@pytest.mark.parametrize("version", ["0.8", "0.9", "0.10", "0.11"])
def test_upload_of_a_multiple_of_the_transfer_size_ends_with_a_zero_length_packet(sim, version):
    """All releases: the loop stops at the first answer shorter than asked, a zero-length one included."""
    sim.make(["dfu11"], {"FAKE_IMAGE_SIZE": "3072"})
    result = sim.run("-v", "-U", "up.bin", version=version)
    assert result.status == 0
    assert result.out.endswith(bar("Upload", 3072, 3072) + "Received a total of 3072 bytes\n")
    uploads = [w for w in wire(sim) if w[0] == 2]
    assert uploads == [(2, 0, 1024, 1024), (2, 1, 1024, 1024), (2, 2, 1024, 1024), (2, 3, 1024, 0)]


@pytest.mark.parametrize("version", ["0.8", "0.11"])
def test_upload_size_does_not_limit_the_requests(sim, version):
    """-Z only scales the bar and is checked at the end: every release asks for full blocks."""
    sim.make(["dfu11"])
    result = sim.run("-Z", "1024", "-U", "up.bin", version=version)
    assert [w[2] for w in wire(sim) if w[0] == 2] == [1024, 1024, 1024]
    assert (sim.path.parent / "work" / "up.bin").read_bytes() == IMAGE
    assert result.status == (70 if version == "0.8" else 0)


# --- downloads: dfu_load.c dfuload_do_dnload and main.c MODE_DOWNLOAD / final_reset --------------

@pytest.mark.parametrize("version,end,status", [
    # 0.8/0.9: warnx("Error during download"); dfuload_do_dnload returns bytes_sent, so main goes on
    # to -R (detach fails on the stalled device, then the reset) and returns 0
    ("0.9", "!dfu-util: Error during download\n!dfu-util: can't detach\n"
            "Resetting USB to switch back to runtime mode\n", 0),
    ("0.10", "!dfu-util: Error during download (LIBUSB_ERROR_PIPE)\n!dfu-util: can't detach\n"
             "Resetting USB to switch back to runtime mode\n", 0),
    # 0.11 returns ret (< 0: EX_IOERR) and resets only when ret is 0
    ("0.11", "!dfu-util: Error during download (LIBUSB_ERROR_PIPE)\n", 74),
])
def test_failed_last_block_then_reset(sim, fw, version, end, status):
    sim.make(["dfu11"], {"FAKE_DNLOAD_ERR_AT": "-9@2"})
    result = sim.run("-R", "-D", fw, version=version)
    assert result.status == status
    assert tail(result, "Copying") == ("Copying data from PC to DFU device\n" + bar("Download", 0, 1)
                                       + bar("Download", 1024, 4096) + bar("Download", 2048, 4096) + end)
    assert ("reset" in wire(sim)) == (version != "0.11")
    assert image_held(sim) is None


@pytest.mark.parametrize("version,message", [
    ("0.8", "Error sending completion packet"),
    ("0.10", "Error sending completion packet (LIBUSB_ERROR_PIPE)"),
    ("0.11", "Error sending completion packet (LIBUSB_ERROR_PIPE)"),
])
def test_failed_zero_length_packet_is_fatal_in_every_release(sim, fw, version, message):
    """errx(EX_IOERR, ...) after the zero-length DNLOAD in all releases: no -R, no "Done!"."""
    sim.make(["dfu11"], {"FAKE_DNLOAD_ERR_AT": "-9@3"})
    result = sim.run("-R", "-D", fw, version=version)
    assert result.status == 74
    assert tail(result, "Copying") == DOWNLOAD_3072.replace(bar("Download", 3072, 3072), "") + f"!dfu-util: {message}\n"
    assert [w for w in wire(sim) if w[0] == 1][-1] == (1, 3, 0, None)


@pytest.mark.parametrize("version,end,status", [
    # 0.8/0.9: warnx without the error name; goto out skips "Done!"; main returns 0
    ("0.8", "!dfu-util: unable to read DFU status after completion\n", 0),
    ("0.10", "!dfu-util: unable to read DFU status after completion (LIBUSB_ERROR_IO)\n", 0),
    # 0.11: dfuload_do_dnload returns the negative libusb result: EX_IOERR
    ("0.11", "!dfu-util: unable to read DFU status after completion (LIBUSB_ERROR_IO)\n", 74),
])
def test_unreadable_status_after_the_zero_length_packet(sim, fw, version, end, status):
    sim.make(["dfu11"], {"FAKE_MANIFEST_ERR": "-1"})
    result = sim.run("-D", fw, version=version)
    assert result.status == status
    assert tail(result, "Copying") == DOWNLOAD_3072 + end
    assert image_held(sim) == FIRMWARE_3072       # the device took it and reset itself


def test_final_reset_failure_wording_in_09(sim, fw):
    """0.8/0.9 main.c: errx(EX_IOERR, "error resetting after download") names no error."""
    sim.make(["dfu11"], {"FAKE_MANIFEST_ERR": "-4"})
    result = sim.run("-R", "-D", fw, version="0.9")
    assert result.status == 74
    assert result.merged.endswith("!dfu-util: unable to read DFU status after completion\n!dfu-util: can't detach\n"
                                  "Resetting USB to switch back to runtime mode\n"
                                  "!dfu-util: error resetting after download\n")


@pytest.mark.parametrize("version,end,status,resets", [
    # 0.8/0.9 have no dfuMANIFEST-WAIT-RESET case: straight to "Done!", no reset
    ("0.8", "state(7) = dfuMANIFEST, status(0) = No error condition is present\n"
            "state(8) = dfuMANIFEST-WAIT-RESET, status(0) = No error condition is present\nDone!\n", 0, False),
    # 0.10: reset; LIBUSB_ERROR_NOT_FOUND (the device re-enumerated) is not an error; returns bytes_sent
    ("0.10", "state(7) = dfuMANIFEST, status(0) = No error condition is present\n"
             "state(8) = dfuMANIFEST-WAIT-RESET, status(0) = No error condition is present\n"
             "Resetting USB to switch back to runtime mode\nDone!\n", 0, True),
    # 0.11: ret = libusb_reset_device() = NOT_FOUND is returned: EX_IOERR after "Done!"
    ("0.11", "DFU state(7) = dfuMANIFEST, status(0) = No error condition is present\n"
             "DFU state(8) = dfuMANIFEST-WAIT-RESET, status(0) = No error condition is present\n"
             "Resetting USB to switch back to runtime mode\nDone!\n", 74, True),
])
def test_manifestation_without_tolerance(sim, fw, version, end, status, resets):
    sim.make(["dfu11nt"], {"FAKE_RESET_REENUMERATES": "1"})
    result = sim.run("-D", fw, version=version)
    assert result.status == status
    assert tail(result, "Copying") == DOWNLOAD_3072 + end
    assert ("reset" in wire(sim)) == resets
    assert image_held(sim) == FIRMWARE_3072


@pytest.mark.parametrize("version,line", [
    ("0.9", "state(10) = dfuERROR, status(14) = Something went wrong, but the device does not know what it was\n"),
    ("0.11", "DFU state(10) = dfuERROR, status(14) = Something went wrong, but the device does not know what it "
             "was\n"),
])
def test_short_status_after_completion_reads_as_dfu_error(sim, fw, version, line):
    """dfu.c dfu_get_status (every release) keeps errUNKNOWN/dfuERROR unless exactly 6 bytes came;
    dfuload_do_dnload's switch has no dfuERROR case, so it prints "Done!" and succeeds."""
    sim.make(["dfu11"], {"FAKE_MANIFEST_SHORT": "3"})
    result = sim.run("-D", fw, version=version)
    assert result.status == 0
    assert tail(result, "Copying") == DOWNLOAD_3072 + line + "Done!\n"


@pytest.mark.parametrize("version", ["0.8", "0.11"])
def test_download_of_a_multiple_of_the_transfer_size(sim, fw, version):
    """Full blocks 0-2, then the zero-length block 3 that starts manifestation (all releases)."""
    sim.make(["dfu11"])
    result = sim.run("-v", "-D", fw, version=version)
    assert result.status == 0
    assert "Sent a total of 3072 bytes\n" in result.out
    downloads = [(w[1], w[2]) for w in wire(sim) if w[0] == 1]
    assert downloads == [(0, 1024), (1, 1024), (2, 1024), (3, 0)]
    assert image_held(sim) == FIRMWARE_3072
