"""The runner's judgement: exit statuses, lines in order, unwanted lines, device memory, pending."""
import subprocess
import sys
from pathlib import Path

import pytest

from forum_replay import runner
from forum_replay.scenario import Expect, Step, parse

ROOT = Path(__file__).resolve().parents[2]


def step(exit="0", *expects):
    return Step("dfu-util -l", 1, exit=exit, expects=[Expect(k, t) for k, t in expects])


OUTPUT = "dfu-util 0.8\n\nFound DFU: [2b04:d006] devnum=5, alt=1\nFound DFU: [2b04:d006] devnum=5, alt=0\n"


def test_lines_in_order_pass():
    assert runner.compare(step("0", ("|", "dfu-util 0.8"), ("^", "Found DFU"), ("~", r"alt=0$")), 0, OUTPUT, None) == []


def test_lines_out_of_order_fail():
    problems = runner.compare(step("0", ("~", "alt=0"), ("~", "alt=1")), 0, OUTPUT, None)
    assert problems[0].startswith("missing (~) 'alt=1'")


def test_a_line_must_match_whole_unless_marked_as_a_start():
    assert runner.compare(step("0", ("|", "Found DFU")), 0, OUTPUT, None)
    assert not runner.compare(step("0", ("^", "Found DFU")), 0, OUTPUT, None)


def test_unwanted_line_fails_wherever_it_is():
    problems = runner.compare(step("0", ("!", "devnum=7, alt=0"), ("!", "alt=0")), 0, OUTPUT, None)
    assert problems[0] == "unwanted line: 'Found DFU: [2b04:d006] devnum=N, alt=0'"


@pytest.mark.parametrize("want, code, ok", [("0", 0, True), ("0", 74, False), ("74", 74, True),
                                            ("nonzero", 1, True), ("nonzero", 0, False), ("any", 3, True)])
def test_exit_status(want, code, ok):
    assert (runner.compare(step(want), code, OUTPUT, None) == []) is ok


@pytest.mark.parametrize("command, program, args", [
    ("sudo dfu-util -l", "dfu-util", ["-l"]),
    (r".\dfu-util-static -d 2b04:d006", "dfu-util", ["-d", "2b04:d006"]),
    ("particle.exe keys send xxxx:xxxx photon.pub.pem", "particle",
     ["keys", "send", "0123456789abcdef01234567", "photon.pub.pem"]),
    ("node_modules/particle-cli/bin/particle.js flash --usb a.bin", "particle", ["flash", "--usb", "a.bin"]),
    ("spark keys doctor 5**************3", "particle", ["keys", "doctor", "0123456789abcdef01234567"]),
    ("p update", "particle", ["update"]),
])
def test_commands_as_posters_typed_them(command, program, args, tmp_path):
    assert runner.split_command(command, "0123456789abcdef01234567", tmp_path) == (program, args)


def test_absolute_paths_are_rerooted_in_the_scenario_folder(tmp_path):
    _, args = runner.split_command("particle flash --usb /tmp/pflash_firmware.bin", None, tmp_path)
    assert args[-1] == str(tmp_path / "tmp" / "pflash_firmware.bin")


def test_programs_particle_py_does_not_provide_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not a command particle-py provides"):
        runner.split_command("make clean all program-dfu", None, tmp_path)


def _scenario(tmp_path, body):
    (tmp_path / "x.scenario").write_text("transcript: 043-particle-cli-test-fixture-dfu-0.8-list-no-devices.txt\n"
                                         + body)
    from forum_replay.scenario import load
    return load(tmp_path / "x.scenario")


def test_a_command_that_does_not_exist_yet_is_pending_not_passed(tmp_path):
    result = runner.run(_scenario(tmp_path, "devices: none\n$ particle compile\nexit: 0\n"))
    assert result.status == "pending" and "particle compile" in result.detail


def test_wrong_expectation_on_a_real_run_fails(tmp_path):
    result = runner.run(_scenario(tmp_path, "dfu-util: 0.8\ndevices: none\n$ dfu-util -l\nexit: 0\n| dfu-util 0.9\n"))
    assert result.status == "failed" and "missing (|) 'dfu-util 0.9'" in result.detail


def test_device_memory_is_checked(tmp_path):
    body = ("dfu-util: 0.8\ndevices: photon\nfile: a.bin bytes 5000\nfile: b.bin bytes 5000\n"
            "$ dfu-util -d 2b04:d006 -a 0 -s 0x08020000 -D a.bin\nexit: 0\nholds: 0 0x08020000 {f}\n")
    assert runner.run(_scenario(tmp_path, body.format(f="a.bin"))).status == "passed"
    failed = runner.run(_scenario(tmp_path, body.format(f="b.bin")))
    assert failed.status == "failed" and "does not hold b.bin" in failed.detail


def test_the_script_prints_one_line_each_and_the_totals(tmp_path):
    good = ROOT / "compat/forum/scenarios/043-dfu-0.8-list-no-devices-fixture.scenario"
    bad = tmp_path / "bad.scenario"
    bad.write_text(good.read_text().replace("| dfu-util 0.8", "| dfu-util 0.7"))
    pending = tmp_path / "pending.scenario"
    pending.write_text(good.read_text().replace("$ dfu-util -l", "$ particle compile"))
    proc = subprocess.run([sys.executable, "-m", "forum_replay", str(good), str(bad), str(pending)],
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT / "compat"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("PASS    043-dfu-0.8-list-no-devices-fixture")
    assert lines[1].startswith("FAIL    bad: step 1 `dfu-util -l`: missing (|) 'dfu-util 0.7'")
    assert lines[2].startswith("PENDING pending: `particle compile`")
    assert lines[-1] == "1 passed, 1 failed, 1 pending"
    assert proc.returncode == 1


def test_final_led_comes_from_the_boot_model(tmp_path):
    body = "dfu-util: 0.8\ndevices: photon\nled: {led}\n$ dfu-util -l\nexit: 0\n"
    assert runner.run(_scenario(tmp_path, body.format(led="blinking yellow"))).status == "passed"
    assert runner.run(_scenario(tmp_path, body.format(led="not breathing cyan"))).status == "passed"
    failed = runner.run(_scenario(tmp_path, body.format(led="breathing cyan")))
    assert failed.status == "failed" and failed.detail.startswith("final LED: blinking yellow")


def test_subprocess_mode_gives_the_same_verdict_as_in_process():
    from forum_replay.scenario import load
    for name in ("064-photon-dfu-0.8-list-and-nuttx-download", "048-photon-flash-usb-then-dfu-util-directly"):
        sc = load(ROOT / "compat/forum/scenarios" / f"{name}.scenario")
        in_process, own_process = runner.run(sc), runner.run(sc, use_subprocess=True)
        assert (in_process.status, own_process.status) == ("passed", "passed"), own_process.detail


def test_in_process_runs_leave_environment_and_folder_as_they_were(tmp_path):
    import os
    before_env, before_cwd = dict(os.environ), os.getcwd()
    code, output = runner.run_inprocess("dfu-util", ["--version"], {"PARTICLE_PY_DFU_UTIL_VERSION": "0.9"}, tmp_path)
    assert code == 0 and output.startswith("dfu-util 0.9\n")
    assert dict(os.environ) == before_env and os.getcwd() == before_cwd
