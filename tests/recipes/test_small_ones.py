"""The small ones of the seed's follow-ups: a chooser on a terminal, a device option on the keys
commands, the right prefix when not logged in, the dfu-util hint for a running device, the
single-dash typo and `--version`."""
import io
import json
import os
import shlex
import sys

from particle_py.sim.bus import SimBus


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(line: str, capsys):
    from particle_py.cli.particle.main import main as particle
    capsys.readouterr()
    code = particle(shlex.split(line)[1:])
    out = capsys.readouterr()
    return code, out.out, out.err


def _modes() -> list:
    return [d.profile.kind for d in SimBus.load(os.environ["PARTICLE_PY_SIM"]).devices()]


def test_two_devices_on_a_terminal_are_a_choice(world, capsys, monkeypatch):
    from particle_py.cli.sim import main as particle_sim
    world.make("photon")
    assert particle_sim(["create", "photon", "photon"]) == 0
    ids = [d.profile.device_id for d in SimBus.load(world.state).devices()]
    monkeypatch.setattr(sys, "stdin", Terminal("3\n2\n"))
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    code, out, _ = _run("particle usb dfu", capsys)
    assert (code, out) == (0, "Done.\n")
    assert err.getvalue() == ("Which device would you like to select?\n"
                              f"  1) [{ids[0]}] (Photon)\n"
                              f"  2) [{ids[1]}] (Photon)\n"
                              "Device number: Type a number from 1 to 2.\n"
                              "Device number: ")
    assert _modes() == ["normal", "dfuse"]            # the second one only


def test_two_devices_without_a_terminal_say_which_are_attached(world, capsys):
    from particle_py.cli.sim import main as particle_sim
    world.make("photon")
    assert particle_sim(["create", "photon", "photon"]) == 0
    ids = [d.profile.device_id for d in SimBus.load(world.state).devices()]
    code, out, err = _run("particle usb dfu", capsys)
    assert code == 1
    assert err == ("Multiple devices found. Connect only one device when running in non-interactive mode.\n"
                   f"Or name the device by its id. Attached: {ids[0]} (Photon), {ids[1]} (Photon)\n")
    assert _modes() == ["normal", "normal"]


def test_keys_commands_take_a_device_option(world, capsys):
    from particle_py.cli.sim import main as particle_sim
    world.make("photon")
    assert particle_sim(["create", "photon", "argon"]) == 0
    argon = SimBus.load(world.state).devices()[1].profile.device_id
    code, out, err = _run(f"particle keys address --device {argon}", capsys)
    assert (code, err) == (0, "")
    assert out == "Switching device to DFU mode\n\nudp://udp.particle.io:5684\n"
    code, out, err = _run(f"particle keys save --device {argon[:8]}", capsys)
    assert (code, err) == (0, ""), err
    assert (world.work / f"{argon}.der").is_file()
    assert _modes() == ["normal", "dfuse"]            # the photon was not touched


def test_keys_doctor_when_not_logged_in_says_so_first(world, capsys):
    device_id = world.make("photon")
    (world.home / ".particle" / "particle.config.json").write_text(json.dumps({"apiUrl": world.cloud.url}))
    code, out, err = _run(f"particle keys doctor {device_id}", capsys)
    assert code == 1 and out == ""
    assert err.startswith("You're not logged in."), err
    assert err.endswith("Nothing was changed on the device.\n")
    assert _modes() == ["normal"]


def _dfu_util(args: list, environ: dict):
    from particle_py.cli.dfu_util.main import main as dfu_util
    out = io.StringIO()
    code = dfu_util(["dfu-util", *args], stdout=out, stderr=out, environ={**os.environ, **environ})
    return code, out.getvalue()


def test_dfu_util_hints_at_particle_usb_dfu_for_a_running_device(world):
    device_id = world.make("photon")
    (world.work / "app.bin").write_bytes(b"\0" * 64)
    args = ["-d", "2b04:d006", "-a", "0", "-s", "0x080a0000", "-D", "app.bin"]
    code, text = _dfu_util(args, {"PARTICLE_PY_DFU_UTIL_HINTS": "1"})
    assert code == 74
    assert text.endswith("No DFU capable USB device available\n"
                         f"A Particle Photon ({device_id}) is attached but running its firmware, not in DFU "
                         "mode: run `particle usb dfu` (or hold MODE, press RESET, release MODE when the LED "
                         "blinks yellow), then dfu-util again.\n"), text
    code, text = _dfu_util(args, {"PARTICLE_PY_DFU_UTIL_HINTS": "0"})     # scripts parse dfu-util's output
    assert code == 74 and text.endswith("No DFU capable USB device available\n")


def test_flash_with_one_dash_suggests_two(world, capsys):
    world.make("photon")
    code, out, err = _run("particle flash -usb tinker", capsys)
    assert (code, out) == (2, "")
    assert err == "No such option: -usb\nDid you mean --usb? Long options take two dashes: particle flash --usb tinker\n"
    assert _modes() == ["normal"]


def test_version_says_particle_py(capsys):
    from particle_py import __version__
    code, out, err = _run("particle --version", capsys)
    assert (code, out, err) == (0, f"particle-py {__version__}\n", "")
    assert out.split()[-1].count(".") == 2           # the number stays the last word, for scripts
