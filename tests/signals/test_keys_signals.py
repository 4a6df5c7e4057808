"""`particle keys load|doctor|save` stopped by a signal: the old key or the new one, never neither;
the message says which, names the backup, and exits 128 + signal."""
from __future__ import annotations

import json
import re
import signal

import pytest

from helpers.processes import class_requests, no_traceback
from particle_py.keys import formats
from particle_py.platforms import by_name

PHOTON = by_name("photon")
SLOT = PHOTON.device_key[PHOTON.default_protocol]


def _key_der(alg="rsa") -> bytes:
    return formats.device_der(formats.generate(alg))


def _fresh(bench):
    bench.create("photon:real=1")
    bench.poke(SLOT.alt, SLOT.address, bench.old)
    bench.clear_log()


@pytest.fixture
def photon(bench):
    bench.old = _key_der()
    _fresh(bench)
    bench.ident = bench.bus().devices()[0].profile.device_id
    return bench


def _first_key_block(bench, *args) -> int:
    """The DNLOAD ordinal of the key's first data block, from an uninterrupted run of the same
    command on the same device (a DfuSe read also starts with a DNLOAD: its address command);
    then the device is made afresh."""
    done = bench.run(*args)
    assert done.status == 0, done.out + done.err
    dnloads = class_requests(bench.log(), 1)
    first = next(n for n, e in enumerate(dnloads, 1) if e["wValue"] >= 2 and e["wLength"])
    _fresh(bench)
    return first


def _slot(bench) -> bytes:
    return bench.peek(SLOT.alt, SLOT.address, SLOT.size)


def _text(got) -> str:
    return (got.out + got.err).replace("\r\n", "\n")


@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGTERM)], ids=["pty-^C", "piped-TERM"])
def test_keys_load_interrupted_while_reading_keeps_the_old_key(photon, use_pty, sig):
    (photon.work / "k.der").write_bytes(_key_der())
    before = _slot(photon)
    photon.set_knobs(PAUSE_AFTER="2@1")                  # the first read (the backup of the slot)
    got = photon.run_interrupted("particle", "keys", "load", "k.der", sig=sig, use_pty=use_pty)
    text = _text(got)
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False)
    label = "Interrupted" if sig == signal.SIGINT else "Interrupted (SIGTERM)"
    assert f"{label} before the key was written. The device still has its previous key" in text, text
    assert _slot(photon) == before


@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGTERM)], ids=["pty-^C", "piped-TERM"])
def test_keys_load_interrupted_during_the_write_finishes_it_and_says_so(photon, use_pty, sig):
    new = _key_der()
    (photon.work / "k.der").write_bytes(new)
    before = _slot(photon)
    block = _first_key_block(photon, "particle", "keys", "load", "k.der")
    photon.set_knobs(PAUSE_AFTER=f"1@{block}")
    got = photon.run_interrupted("particle", "keys", "load", "k.der", sig=sig, use_pty=use_pty)
    text = _text(got)
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False)
    assert "after the key was written: the device holds the key from k.der (written and read back)." in text
    backup = re.search(r"particle keys load (\S+)\n", text).group(1)
    assert (photon.work / backup).read_bytes() == before          # the way back is on disk
    assert _slot(photon) == new + before[len(new):]


@pytest.fixture
def cloud(bench):
    from particle_py.sim import cloud as sim_cloud

    running = sim_cloud.start(bench.tmp / "cloud" / "cloud.sqlite")
    running.db.add_user("alice@example.com", "pw")
    token = running.db.issue_token("alice@example.com")
    bench.write_config({"apiUrl": running.url, "access_token": token, "flashWarningShownOn": 1})
    yield running
    running.stop()


def test_keys_doctor_interrupted_while_reading_changes_nothing(photon, cloud):
    photon.set_knobs(PAUSE_AFTER="2@1")
    got = photon.run_interrupted("particle", "keys", "doctor", photon.ident, use_pty=True)
    text = _text(got)
    no_traceback(text)
    assert got.status == 130
    assert "Interrupted. Nothing was changed on the device." in text, text
    assert _slot(photon)[:len(photon.old)] == photon.old


@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGTERM)], ids=["pty-^C", "piped-TERM"])
def test_keys_doctor_interrupted_during_the_write_has_the_new_key_and_says_how_to_finish(photon, cloud, use_pty, sig):
    block = _first_key_block(photon, "particle", "keys", "doctor", photon.ident)
    photon.set_knobs(PAUSE_AFTER=f"1@{block}")
    got = photon.run_interrupted("particle", "keys", "doctor", photon.ident, sig=sig, use_pty=use_pty)
    text = _text(got)
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False)
    # the cloud took the new key before the write began, and the write is never cut: only the reset is left
    assert "after the new key was written and the cloud has it." in text, text
    assert "Press the device's RESET button so it uses the new key." in text
    new = (photon.work / f"{photon.ident}_rsa_new.der").read_bytes()
    assert _slot(photon)[:len(new)] == new
    back = re.search(r"The previous key is saved in (\S+) and", text).group(1)
    assert (photon.work / back).read_bytes()[:len(photon.old)] == photon.old
    public = formats.public_der(formats.parse_key(new).key)
    assert cloud.db.handshake(photon.ident, public) != "key_rejected"


def test_keys_save_interrupted_writes_no_file(photon):
    photon.set_knobs(PAUSE_AFTER="2@1")
    got = photon.run_interrupted("particle", "keys", "save", "mine.der")
    no_traceback(got.out, got.err)
    assert got.status == 130
    assert got.err == ("Interrupted while reading the key: no file was written.\n"
                       "The device was only read; nothing on it changed.\n"), got.err
    assert not list(photon.work.glob("mine*"))
    assert _slot(photon)[:len(photon.old)] == photon.old


def test_keys_load_stopped_at_every_request_keeps_old_or_new_never_neither(photon):
    """SIGINT after each DFU request of `keys load` in turn: the slot holds the old key or the new
    one, the message says which (or the command finished and says so), never a traceback."""
    new = _key_der()
    (photon.work / "k.der").write_bytes(new)
    before = _slot(photon)
    done = photon.run("particle", "keys", "load", "k.der")
    assert done.status == 0
    requests = [e for e in photon.log() if e.get("event") == "control" and e["bmRequestType"] & 0x60 == 0x20]
    counts: dict = {}
    steps = []
    for e in requests:
        counts[e["bRequest"]] = counts.get(e["bRequest"], 0) + 1
        steps.append(f"{e['bRequest']}@{counts[e['bRequest']]}")
    assert len(steps) > 20
    seen = set()
    for step in steps:
        _fresh(photon)
        photon.set_knobs(PAUSE_AFTER=step)
        got = photon.run_interrupted("particle", "keys", "load", "k.der")
        no_traceback(got.out, got.err)
        slot = _slot(photon)
        if got.status == 0:           # the signal came while closing up: the work was done
            assert slot == new + before[len(new):] and "Key k.der written to device\n" in got.out, step
            seen.add("done")
            continue
        assert got.status == 130, (step, got)
        if "the device holds the key from k.der" in got.err:
            assert slot == new + before[len(new):], step
            seen.add("new")
        else:
            assert "The device still has its previous key" in got.err, (step, got.err)
            assert slot == before, step
            seen.add("old")
    assert {"old", "new"} <= seen, seen
