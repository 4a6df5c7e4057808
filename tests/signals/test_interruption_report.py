"""One interruption report for every writing command (issue 23, findings 6-8): real signals to
the installed `particle` at many steps of `flash --usb` and `update`, on a pty and piped. Each
run's report is read back as a claim about the device (untouched, erased from-to, written up to
X) and compared with the simulator's flash afterwards; then the command the report gives is run
and must finish the job."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from helpers.processes import SignalBench, class_requests, no_traceback
from particle_py.firmware.module import ModuleFunction
from particle_py.platforms import by_name
from particle_py.sim.contents import build_module, default_start

APP_SIZE = 1536 * 1024
P2 = by_name("p2")
START = default_start(P2, ModuleFunction.USER_PART, 1, APP_SIZE)
END = START + APP_SIZE
ERASE, SET_ADDRESS = "41", "21"


def _dnload_kinds(log):
    """Each DNLOAD's ordinal (1-based, as PAUSE_AFTER counts) -> ('erase'|'address'|'data', address)."""
    out, pointer, xfer = {}, None, 4096
    for n, e in enumerate(class_requests(log, 1), 1):
        data = e["data"]
        if e["wValue"] == 0 and data[:2] in (ERASE, SET_ADDRESS) and len(data) == 10:
            address = int.from_bytes(bytes.fromhex(data[2:]), "little")
            out[n] = ("erase" if data[:2] == ERASE else "address", address)
            if data[:2] == SET_ADDRESS:
                pointer = address
        elif e["wValue"] >= 2 and e["wLength"]:
            out[n] = ("data", pointer + (e["wValue"] - 2) * xfer)
        else:
            out[n] = ("other", None)
    return out


def _text(got) -> str:
    return (got.out + got.err).replace("\r\n", "\n")


# --- flash --usb: erased is not written (finding 7) ---------------------------------------------

def _p2_with_an_old_app(bench: SignalBench) -> None:
    """A P2 whose app slot holds another app: its pages must be erased before the new one lands."""
    bench.create("p2")
    bench.poke(0, START, build_module("p2", size=APP_SIZE, seed=1))


@pytest.fixture(scope="module")
def flash_plan(tmp_path_factory):
    ref = SignalBench(tmp_path_factory.mktemp("reference"))
    _p2_with_an_old_app(ref)
    app = build_module("p2", size=APP_SIZE, seed=7)
    (ref.work / "app.bin").write_bytes(app)
    done = ref.run("particle", "flash", "--usb", "app.bin")      # the very command the tests stop
    assert done.status == 0, done.err
    kinds = _dnload_kinds(ref.log())
    erases = [n for n, (kind, _a) in kinds.items() if kind == "erase"]
    data = [n for n, (kind, _a) in kinds.items() if kind == "data"]
    assert erases and max(erases) < min(data)        # the run's pages are erased, then written
    return {"app": app, "erases": erases, "data": data}


@pytest.fixture
def p2(tmp_path, flash_plan):
    bench = SignalBench(tmp_path)
    _p2_with_an_old_app(bench)
    (bench.work / "app.bin").write_bytes(flash_plan["app"])
    bench.before = bench.peek(0, START, APP_SIZE)
    return bench


def _check_flash_claim(text, held, before, app):
    """The report's sentence about app.bin, as what the flash must hold; returns which claim it was."""
    nothing = f"Nothing of app.bin was written (0x{START:08x}-0x{END:08x} is as it was)."
    if nothing in text:
        assert held == before
        return "untouched"
    erased = re.search(r"Nothing of app\.bin was written yet: 0x([0-9a-f]{8})-0x([0-9a-f]{8}) is erased \(blank\)"
                       rf", the rest of 0x{START:08x}-0x{END:08x} is as it was; the device may not start until "
                       r"it is written whole\.", text)
    every = f"Nothing of app.bin was written yet: all of 0x{START:08x}-0x{END:08x} is erased (blank); the device may " \
        "not start until it is written whole."
    if every in text:
        assert held == b"\xff" * APP_SIZE
        return "erased"
    if erased:
        lo, hi = (int(g, 16) - START for g in erased.groups())
        assert lo == 0 and held[lo:hi] == b"\xff" * (hi - lo)
        assert held[hi:] == before[hi:]
        return "erased"
    partial = re.search(rf"app\.bin was written only up to 0x([0-9a-f]{{8}}) \(of 0x{START:08x}-0x{END:08x}\); the "
                        r"device may not start until it is written whole\.( 0x([0-9a-f]{8})-0x([0-9a-f]{8}) is "
                        r"erased \(blank\): none of app\.bin's bytes are there yet\.)?", text)
    assert partial, text
    reached = int(partial.group(1), 16) - START
    assert held[:reached] == app[:reached]
    if partial.group(2):
        lo, hi = int(partial.group(3), 16) - START, int(partial.group(4), 16) - START
        assert lo == reached and held[lo:hi] == b"\xff" * (hi - lo) and held[hi:] == before[hi:]
    else:
        assert held[reached:] == before[reached:]
    return "written"


@pytest.mark.parametrize("where", ["first-erase", "mid-erase", "last-erase", "first-block", "mid-write"])
@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGTERM)], ids=["pty-^C", "piped-TERM"])
def test_flash_report_is_what_the_flash_holds(p2, flash_plan, where, use_pty, sig):
    erases, data = flash_plan["erases"], flash_plan["data"]
    at = {"first-erase": erases[0], "mid-erase": erases[len(erases) // 2], "last-erase": erases[-1],
          "first-block": data[0], "mid-write": data[len(data) // 2]}[where]
    p2.set_knobs(PAUSE_AFTER=f"1@{at}")
    got = p2.run_interrupted("particle", "flash", "--usb", "app.bin", sig=sig, use_pty=use_pty)
    text = _text(got)
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False), text
    assert "Flash success!" not in text
    held = p2.peek(0, START, APP_SIZE)
    claim = _check_flash_claim(text, held, p2.before, flash_plan["app"])
    assert claim == ("erased" if "erase" in where else "written"), text
    label = "interrupted" if sig == signal.SIGINT else f"interrupted ({signal.Signals(sig).name})"
    if claim == "erased":
        assert f"Flashing app.bin {label} while erasing, before any of it was written.\n" in text
        assert "was written only up to" not in text         # the old report's claim (finding 7)
    assert "To finish, run:\n  particle flash --usb app.bin\n" in text
    p2.set_knobs()
    done = p2.run("particle", "flash", "--usb", "app.bin")
    assert done.status == 0 and "Flash success!" in done.out, done.out + done.err
    assert p2.peek(0, START, APP_SIZE) == flash_plan["app"]


# --- update: the state and the command to finish (finding 6) -------------------------------------

# the particle-cli release files scripts/install-peers --npm put in the peer cache (as tests/update)
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")
UPDATES = PEERS / "particle-cli-2.16.0" / "node_modules" / "particle-cli" / "assets" / "updates"


@pytest.fixture(scope="module")
def release():
    from particle_py.firmware.module import parse

    path = UPDATES / "boron-system-part1@2.2.0.bin"
    if not path.is_file():
        pytest.skip(f"no particle-cli release files in {UPDATES} (scripts/install-peers --npm)")
    module = parse(path.read_bytes())
    return {"folder": str(UPDATES), "parts": {path.name: (module.prefix.start, path.read_bytes())}}


def _boron(bench: SignalBench):
    from particle_py.sim import devices

    devices.create(bench.state, ["boron"], devices.Recipe(mode="dfu", device_os="1.5.2"), knobs={})


@pytest.fixture(scope="module")
def update_plan(tmp_path_factory, release):
    ref = SignalBench(tmp_path_factory.mktemp("update-reference"))
    _boron(ref)
    name, (start, data) = next(iter(release["parts"].items()))
    done = ref.run("particle", "update", "--target", "2.2.0", "--from", release["folder"])
    assert done.status == 0 and "Update success!" in done.out, done.out + done.err
    kinds = _dnload_kinds(ref.log())
    inside = lambda a: a is not None and start <= a < start + len(data)      # noqa: E731
    erases = [n for n, (kind, a) in kinds.items() if kind == "erase" and inside(a)]
    blocks = [n for n, (kind, a) in kinds.items() if kind == "data" and inside(a)]
    assert blocks
    last = max(n for n, (kind, _a) in kinds.items() if kind == "data")
    points = {"first-block": blocks[0], "mid-write": blocks[len(blocks) // 2], "part-end": blocks[-1],
              "last-block": last}
    if erases:
        points.update({"first-erase": erases[0], "mid-erase": erases[len(erases) // 2]})
    return {"name": name, "start": start, "data": data, "points": points}


@pytest.fixture
def boron(tmp_path):
    bench = SignalBench(tmp_path)
    _boron(bench)
    return bench


POINTS = ["first-erase", "mid-erase", "first-block", "mid-write", "part-end", "last-block"]


@pytest.mark.parametrize("where", POINTS)
@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGTERM), (False, signal.SIGHUP)],
                         ids=["pty-^C", "piped-TERM", "piped-HUP"])
def test_update_report_is_what_the_flash_holds(boron, release, update_plan, where, use_pty, sig):
    if where not in update_plan["points"]:
        pytest.skip(f"the update erases nothing of {update_plan['name']}")
    name, start, data = update_plan["name"], update_plan["start"], update_plan["data"]
    before = boron.peek(0, start, len(data))
    boron.set_knobs(PAUSE_AFTER=f"1@{update_plan['points'][where]}")
    got = boron.run_interrupted("particle", "update", "--target", "2.2.0", "--from", release["folder"],
                                sig=sig, use_pty=use_pty)
    text = _text(got)
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False), text
    assert "Update success!" not in text
    assert text.strip() != "Interrupted." and "\nInterrupted.\n" not in text       # finding 6: the bare line
    label = "interrupted" if sig == signal.SIGINT else f"interrupted ({signal.Signals(sig).name})"
    held = boron.peek(0, start, len(data))
    in_flash = re.search(r"In flash: ([^\n]*) \(Device OS checks", text)
    if in_flash and name in in_flash.group(1).split(", "):
        assert held == data, text
    state = re.search(rf"Not written: {re.escape(name)} \(([^\n]*?), 0x([0-9a-f]{{8}})-0x([0-9a-f]{{8}})\)", text)
    if state:
        assert f"Update of Device OS 2.2.0 {label} while writing {name}" in text
        words = state.group(1)
        assert int(state.group(2), 16) == start and int(state.group(3), 16) == start + len(data)
        if words == "untouched":
            assert held == before
        else:
            up_to = re.match(r"written up to 0x([0-9a-f]{8})(?:, erased 0x([0-9a-f]{8})-0x([0-9a-f]{8}))?$", words)
            erased_only = re.match(r"erased 0x([0-9a-f]{8})-0x([0-9a-f]{8}), nothing of it written yet$", words)
            assert up_to or erased_only, words
            if up_to:
                reached = int(up_to.group(1), 16) - start
                assert held[:reached] == data[:reached]
                tail = reached
                if up_to.group(2):
                    lo, hi = int(up_to.group(2), 16) - start, int(up_to.group(3), 16) - start
                    assert lo == reached and held[lo:hi] == b"\xff" * (hi - lo)
                    tail = hi
                assert held[tail:] == before[tail:]
            else:
                lo, hi = int(erased_only.group(1), 16) - start, int(erased_only.group(2), 16) - start
                assert held[lo:hi] == b"\xff" * (hi - lo) and held[:lo] == before[:lo] and held[hi:] == before[hi:]
    elif not in_flash or name not in in_flash.group(1):
        pytest.fail("the report says nothing of " + name + ":\n" + text)
    resume = f"To finish, run:\n  particle update --target 2.2.0 --from {release['folder']}\n"
    assert resume in text, text
    boron.set_knobs()
    done = boron.run("particle", "update", "--target", "2.2.0", "--from", release["folder"])
    assert done.status == 0 and "Update success!" in done.out, done.out + done.err
    assert boron.peek(0, start, len(data)) == data


def test_update_interrupted_while_planning_says_nothing_was_written(boron, release):
    boron.set_knobs(PAUSE_AFTER="2@1")          # the first read of the flash
    name, (start, data) = next(iter(release["parts"].items()))
    before = boron.peek(0, start, len(data))
    got = boron.run_interrupted("particle", "update", "--target", "2.2.0", "--from", release["folder"],
                                use_pty=True)
    text = _text(got)
    no_traceback(text)
    assert (got.status, got.signalled) == (130, False)
    assert "Interrupted before anything was written.\n" in text
    assert f"To update, run:\n  particle update --target 2.2.0 --from {release['folder']}\n" in text
    assert boron.peek(0, start, len(data)) == before


# --- a finished job exits 0 (finding 8) -------------------------------------------------------------

class _SignalOnLine:
    """stdout that sends the process ``sig`` right after ``line`` is written: the signal lands in
    the few steps between the success line and the end of the command."""

    def __init__(self, stream, line, sig):
        self._stream, self._line, self._sig, self.sent = stream, line, sig, False

    def write(self, text):
        n = self._stream.write(text)
        if self._line in text and not self.sent:
            import os

            self.sent = True
            os.kill(os.getpid(), self._sig)
        return n

    def __getattr__(self, name):
        return getattr(self._stream, name)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("command", ["flash", "update", "keys load", "keys server"])
def test_a_signal_after_the_success_line_leaves_exit_0(tmp_path, monkeypatch, capsys, release, command, sig):
    import sys

    from particle_py.cli.particle.main import main
    from particle_py.sim import devices

    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".particle").mkdir()
    (tmp_path / ".particle" / "particle.config.json").write_text('{"flashWarningShownOn": 1}')
    if command == "flash":
        devices.create(folder, ["p2"], devices.Recipe(mode="dfu"), knobs={})
        app = build_module("p2", size=64 * 1024, seed=3, deps=())     # runs on whatever Device OS it finds
        (tmp_path / "app.bin").write_bytes(app)
        argv, line = ["flash", "--usb", "app.bin"], "Flash success!"
    elif command == "update":
        devices.create(folder, ["boron"], devices.Recipe(mode="dfu", device_os="1.5.2"), knobs={})
        argv, line = ["update", "--target", "2.2.0", "--from", release["folder"]], "Update success!"
    else:
        from particle_py.keys import formats
        from particle_py.sim.state import create_state

        create_state(folder, ["photon:real=1"], {})
        if command == "keys load":
            (tmp_path / "k.der").write_bytes(formats.device_der(formats.generate("rsa")))
            argv, line = ["keys", "load", "k.der"], "Key k.der written to device"
        else:
            from cryptography.hazmat.primitives.asymmetric import rsa

            (tmp_path / "server.pub.pem").write_bytes(formats.public_pem(rsa.generate_private_key(65537, 2048)))
            argv, line = ["keys", "server", "server.pub.pem", "--host", "192.168.1.10"], "Okay!  New keys in place"
    out = _SignalOnLine(sys.stdout, line, sig)
    monkeypatch.setattr(sys, "stdout", out)
    code = main(argv)
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert out.sent, captured.out + captured.err
    assert code == 0, captured.out + captured.err
    assert "Interrupted" not in captured.err
