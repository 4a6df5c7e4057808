"""Issue 23, finding 11 and the 20 MB IMEI: every serial exchange is bounded in time and in bytes.
A device whose application logs nonstop (the simulator's ``flood`` fault: N bytes of log text in
every read, listening mode too, each read a whole poll of modelled time) ends `serial
inspect/mac/identify/wifi` with a clean error and a next step, not a hang with a growing buffer."""
import json
import re

import pytest
from hypothesis import given, strategies as st

from helpers.serial_profiles import DEVICE_IDS, profile

from particle_py.serial_link import listening, transport


def port(n):
    from particle_py.sim.serial import port_name
    return port_name(n)


FLOOD = re.compile(r"The device on (\S+) kept sending without a pause \((\d+) bytes in ([\d.]+) s\) and no reply "
                   r"particle-py can read came through: an application on it prints nonstop")
FLOOD_HINT = ("Put it in listening mode, where its application stops printing (`particle usb start-listening`, "
              "or hold MODE/SETUP for three seconds until it blinks blue); if it blinks blue already, reset it "
              "(`particle usb reset`); then run the command again. `particle serial monitor` shows what it prints.")


def _flooding(sim, run, name="photon", fw="0.7.0", rate=8192):
    s = sim(profile(name, fw=fw))
    s.seed(version=fw)
    assert run("usb", "start-listening")[0] == 0
    s.faults(flood=rate)
    return s


def _flood_error(err, prefix):
    message, hint = err.splitlines()
    assert message.startswith(prefix) and hint == FLOOD_HINT
    found = FLOOD.fullmatch(message[len(prefix):].split("; the Wi-Fi")[0])
    assert found and found.group(1) == port(0)
    return int(found.group(2)), float(found.group(3))


@pytest.mark.parametrize("command,prefix", [("inspect", "Could not inspect device: "),
                                            ("mac", "Could not get MAC address: ")])
def test_a_flood_of_bytes_ends_the_exchange_at_its_byte_bound(sim, run, command, prefix):
    _flooding(sim, run, rate=8192)
    code, out, err = run("serial", command)
    assert (code, out) == (76, "")
    size, _secs = _flood_error(err, prefix)
    assert transport.MAX_REPLY_BYTES < size <= transport.MAX_REPLY_BYTES + 2 * 8192


def test_a_slow_endless_trickle_ends_at_the_time_bound(sim, run):
    """100 bytes every poll never leaves the line quiet for 250 ms: the batch ends BATCH_TAIL_S after
    its first byte, with what came so far far under the byte bound."""
    _flooding(sim, run, rate=100)
    code, out, err = run("serial", "inspect")
    assert (code, out) == (76, "")
    size, secs = _flood_error(err, "Could not inspect device: ")
    assert size < 20_000 and transport.BATCH_TAIL_S <= secs <= transport.BATCH_TAIL_S + 0.2


def test_identify_of_a_flooding_cellular_device_reports_the_flood_and_keeps_the_id(sim, run):
    """Device OS 2.3.1 on an Electron tells IMEI/ICCID only over serial: the flood costs those two
    fields, with the reason; the id and version (USB) are still printed, exit 0 as before."""
    _flooding(sim, run, name="electron", fw="2.3.1")
    code, out, err = run("serial", "identify")
    assert (code, out) == (0, f"Your device id is {DEVICE_IDS['electron']}\nYour system firmware version is 2.3.1\n")
    assert err.startswith("Could not get the IMEI and ICCID, ensure the device is in listening mode (The device on "
                          f"{port(0)} kept sending without a pause (")


def test_wifi_setup_on_a_device_whose_app_floods_stops_and_says_nothing_was_stored(sim, run, tmp_path):
    """Not in listening mode: the app ignores 'w' and logs on; no prompt ever comes."""
    s = sim(profile("photon", fw="2.3.1"))
    s.faults(flood=8192)
    (tmp_path / "w.json").write_text(json.dumps({"network": "home", "security": "WPA2_AES", "password": "pw"}))
    code, out, err = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert (code, out) == (76, "")
    assert err.splitlines()[0].endswith("; the Wi-Fi setup stopped there and nothing was confirmed stored")
    _flood_error(err, "")
    assert s.wifi() == []


def test_wifi_setup_answered_through_a_flood_still_stores(sim, run, tmp_path):
    """Prompts that do come through the log are answered: the bound is not a refusal of noise."""
    s = _flooding(sim, run, fw="2.3.1")
    (tmp_path / "w.json").write_text(json.dumps({"network": "home", "security": "WPA2_AES", "password": "pw"}))
    assert run("serial", "wifi", "--file", tmp_path / "w.json")[0] == 0
    assert [w["ssid"] for w in s.wifi()] == ["home"]


def test_a_quiet_device_is_still_read_whole(sim, run):
    """The bound does not cut a real reply: without the flood, inspect reads the describe JSON."""
    s = sim(profile("photon", fw="0.7.0"))
    s.seed(version="0.7.0")
    run("usb", "start-listening")
    code, out, err = run("serial", "inspect")
    assert (code, err) == (0, "")
    assert "Platform: 6 - Photon" in out.splitlines()
    assert "System module #1 - version 207, main location" in out


# --- the reader on its own, over a port that never stops ------------------------------------------
class Endless:
    """A raw port (the backend seam) that answers every read with ``chunk`` after ``spent`` seconds."""

    def __init__(self, chunk=b"x" * 512, spent=0.001):
        self.chunk, self.spent, self.reads = chunk, spent, 0

    def read(self, wait_s):
        self.reads += 1
        return self.chunk, self.spent

    def write(self, data):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("chunk,spent", [(b"x" * 4096, 0.0), (b"y", 0.01), (b"z" * 64, 0.05)])
def test_read_batch_and_read_until_end_on_an_endless_port(chunk, spent):
    for read in (lambda p: p.read_batch(20.0), lambda p: p.read_until(["SSID:"], 15.0)):
        raw = Endless(chunk, spent)
        try:
            # read_until's own timeout counts the time bytes arrive in: (text, None) is its "timed out"
            assert read(transport.Port("/dev/ttyX", raw))[1] is None
        except transport.Flooded:
            pass
        # bytes bound or time bound, whichever first: never more than either allows
        assert raw.reads * len(chunk) <= transport.MAX_REPLY_BYTES + len(chunk)
        assert raw.reads * spent <= 15.0 + transport.BATCH_TAIL_S + spent


# --- the IMEI/ICCID: digits of their length, or not the modem's answer -------------------------------
DEVICE = "e00fce68a1b2c3d4e5f60718"


@pytest.mark.parametrize("field,value", [("IMEI", "3" * 20_000_000), ("IMEI", "35abc"), ("ICCID", "8" * 300)])
def test_an_imei_or_iccid_that_is_not_one_is_a_reply_error(field, value):
    text = f"Device ID: {DEVICE}\r\n{field}: {value}\r\n"
    with pytest.raises(listening.ReplyError) as caught:
        listening.parse_identify(text)
    assert len(str(caught.value)) < 120


@given(st.text(alphabet="0123456789abcdefABCDEF_", min_size=0, max_size=400))
def test_identify_keeps_an_imei_only_when_it_is_one(value):
    try:
        reply = listening.parse_identify(f"Device ID: {DEVICE}\r\nIMEI: {value}\r\n")
    except listening.ReplyError:
        return
    assert reply.imei is None or re.fullmatch(r"[0-9]{14,16}", reply.imei)
