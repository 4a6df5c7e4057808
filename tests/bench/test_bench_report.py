"""What scripts/bench prints when peers are missing, and its building blocks."""
import sys
from pathlib import Path

import bench                 # tools/bench.py (tests/bench/conftest.py puts it on the path)


def no_peers() -> bench.Tools:
    return bench.Tools(Path(sys.executable).parent, None, None, False)


def dct_job() -> bench.Job:
    return next(j for j in bench.flash_jobs(short=True) if j.label.startswith("DCT device key write ("))


def test_under_ci_a_missing_peer_is_a_cell_that_says_so(tmp_path):
    rows = bench.flash_rows([dct_job()], no_peers(), tmp_path, ci=True, say=lambda _t: None)
    label, ours, theirs_dfu, _ratio, theirs_cli, _ratio2 = rows[0]
    assert "FAILED" not in ours and ours.endswith(" s")      # ours ran, on the in-process simulator
    assert float(ours.split(" s /")[0]) > 0                   # and the device spent modelled time
    assert theirs_dfu == theirs_cli == "MISSING (not installed)"


def test_outside_ci_a_missing_peer_is_only_noted(tmp_path):
    rows = bench.flash_rows([dct_job()], no_peers(), tmp_path, ci=False, say=lambda _t: None)
    assert rows[0][2] == rows[0][4] == "(not installed)"


def test_table_is_markdown():
    assert bench.table(["a", "b"], [[1, "x"]]) == "| a | b |\n| --- | --- |\n| 1 | x |"


def test_job_checks_the_bytes_on_the_device(tmp_path):
    """A job whose tool 'succeeds' without putting the bytes there is FAILED, not fast."""
    job = dct_job()
    job.check = (1, 34, b"\x01" * len(job.files["key.der"]))
    result = bench.run_job(job, "ours", no_peers(), tmp_path)
    assert result["ok"] is False
    assert "FAILED" in bench._cell(result)


def test_the_start_up_goal_table_covers_every_command_group():
    groups = bench.command_groups()
    assert {"keys", "flash", "usb", "serial", "update", "doctor", "device", "binary", "identify",
            "login"} <= set(groups)
    assert set(bench.SHORT_GROUPS) <= set(groups)


def test_start_up_goals_without_particle_cli_say_so_under_ci():
    goals: list = []
    bench.startup_rows(no_peers(), 1, ci=True, short=True, goals=goals)
    assert [row[0] for row in goals] == ["`particle --help`"] + [f"`particle {g} --help`" for g in bench.SHORT_GROUPS]
    for _label, wall, cpu, status in goals:
        assert wall == "MISSING (not installed)"
        assert cpu.endswith(" ok") or cpu.endswith(" MISSED")
        assert status == "0"
