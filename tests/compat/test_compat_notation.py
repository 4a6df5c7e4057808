"""The transcript notation: parsing, diff reconstruction, stream splitting, normalisation,
and the replay machinery on hand-written scenario files."""
import io
import os
from pathlib import Path

import pytest

from compat.replay import cli, inputs
from compat.replay.notation import (BANNERS, STDERR, STDOUT, collapse_repaints, expected_segments, needs_banner,
                                    parse_file, render, split_mixed)
from compat.replay.runner import compare, real_command, replay

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "compat" / "dfu-util" / "scenarios.md"

BAR0 = r"\rDownload\t[                         ]   0%            0 bytes"
BAR_FULL = r"\rDownload\t[=========================] 100%         5000 bytes"

SMALL = f"""# hand-written scenarios

Notation: as compat/dfu-util/scenarios.md.

## first

The first one, with the banner. Device/env: `FAKE_PROFILES=photon`. Command: `dfu-util -l`

0.11:
```
O| dfu-util 0.11
O| 
O| Copyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.
O| Copyright 2010-2021 Tormod Volden and Stefan Schmidt
O| This program is Free Software and has ABSOLUTELY NO WARRANTY
O| Please report bugs to http://sourceforge.net/p/dfu-util/tickets/
O| 
O| line one
O| line two
[exit status 0]
```

0.10: identical to 0.11 (apart from the banner).

0.8: differences from 0.11 (`-` = 0.11 line, `+` = 0.8 line):
```
@@ -1 +0,0 @@
-O| line one
@@ -2,0 +2 @@
+E| added after line two
```

## combo

An invented mix of known profiles and knobs. Device/env: `FAKE_PROFILES=stm32,dfu11nt FAKE_TSIZE=0 FAKE_NO_DNBUSY=1`. Command: `dfu-util -a "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg" -s 0x08000000 -D fw777.bin`

0.11:
```
O| start
M| {BAR0}dfu-util: went wrong
O| {BAR_FULL}
O| Download done.
[exit status 74]
```

0.9: differences from 0.11 (`-` = 0.11 line, `+` = 0.9 line):
```
@@ -2 +2 @@
-M| {BAR0}dfu-util: went wrong
+M| {BAR0} failed!
@@ -5 +5 @@
-[exit status 74]
+[exit status 0]
```

## usage

Runs that stop in option parsing print no banner. Device/env: `FAKE_PROFILES=photon`. Command: `dfu-util -y`

0.11:
```
E| dfu-util: invalid option -- 'y'
E| Usage: dfu-util [options] ...
[exit status 64]
```
"""


def by_name(text=SMALL):
    return {s.name: s for s in parse_file(text, "small.md")}


def test_description_knobs_and_quoted_command():
    combo = by_name()["combo"]
    assert combo.error is None
    assert combo.profiles == ["stm32", "dfu11nt"]
    assert combo.knobs == {"FAKE_TSIZE": "0", "FAKE_NO_DNBUSY": "1"}
    assert combo.argv == ["dfu-util", "-a", "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg",
                          "-s", "0x08000000", "-D", "fw777.bin"]


def test_banner_is_stripped_from_the_block_and_line_numbers_count_without_it():
    first = by_name()["first"]
    assert [line.render() for line in first.recorded_banners["0.11"]][0] == "O| dfu-util 0.11"
    assert [line.render() for line in first.transcripts["0.11"]] == ["O| line one", "O| line two",
                                                                     "[exit status 0]"]
    assert first.transcripts["0.10"] == first.transcripts["0.11"]
    assert [line.render() for line in first.transcripts["0.8"]] == ["O| line two", "E| added after line two",
                                                                    "[exit status 0]"]


def test_expected_output_puts_each_versions_banner_back():
    first = by_name()["first"]
    segments, status = expected_segments(first.transcripts["0.8"], "0.8")
    assert segments == [(STDOUT, BANNERS["0.8"] + "line two\n"), (STDERR, "added after line two\n")]
    assert status == 0


def test_no_banner_when_option_parsing_failed():
    usage = by_name()["usage"]
    assert not needs_banner(usage.transcripts["0.11"])
    segments, status = expected_segments(usage.transcripts["0.11"], "0.11")
    assert segments == [(STDERR, "dfu-util: invalid option -- 'y'\nUsage: dfu-util [options] ...\n")]
    assert status == 64


def test_mixed_line_splits_after_the_last_repaint():
    combo = by_name()["combo"]
    segments, status = expected_segments(combo.transcripts["0.9"], "0.9")
    bar0 = BAR0.replace(r"\r", "\r").replace(r"\t", "\t")
    assert segments[:2] == [(STDOUT, BANNERS["0.9"] + "start\n" + bar0), (STDERR, " failed!\n")]
    assert status == 0


def test_every_recorded_mixed_line_splits_into_a_bar_and_a_known_stderr_text():
    seen = 0
    for scenario in parse_file(RECORDED.read_text(), "scenarios.md"):
        for lines in scenario.transcripts.values():
            for line in lines:
                if line.kind == "M":
                    out, err = split_mixed(line.text)
                    assert out.startswith("\r") and out.endswith(" bytes")
                    assert err.startswith(("dfu-util: ", " failed!", "DFU state(", "state("))
                    seen += 1
    assert seen >= 10


def test_recorded_file_parses_completely_and_renders_back():
    scenarios = parse_file(RECORDED.read_text(), "scenarios.md")
    assert len(scenarios) == 68
    assert [s.name for s in scenarios if s.error] == []
    assert all(list(s.transcripts) == ["0.11", "0.10", "0.9", "0.8"] for s in scenarios)
    for scenario in scenarios:
        for version, lines in scenario.transcripts.items():
            segments, _ = expected_segments(lines, version)
            rendered = render(segments)
            if needs_banner(lines):
                rendered = rendered[7:]
            assert rendered == [line.render() for line in lines if line.kind != "X"], (scenario.name, version)


def test_recorded_banner_is_the_one_we_put_back():
    first = parse_file(RECORDED.read_text(), "scenarios.md")[0]
    text = "".join(line.text + "\n" for line in first.recorded_banners["0.11"])
    assert text == BANNERS["0.11"]


def test_recorded_runs_without_banner_are_the_option_parsing_failures():
    no_banner = sorted((s.name, v) for s in parse_file(RECORDED.read_text(), "scenarios.md")
                       for v, lines in s.transcripts.items() if not needs_banner(lines))
    # 0.8 had no USB path support; -w does not exist before 0.10
    assert no_banner == [("path_match", "0.8"), ("wait_present", "0.8"), ("wait_present", "0.9")]


@pytest.mark.parametrize("broken,message", [
    ("@@ -1 +1 @@\n-O| not the base line\n+O| x", "removes 'O| not the base line'"),
    ("@@ -1,2 +1 @@\n-O| line one\n+O| x", "has 1 '-' and 1 '+' lines"),
    ("@@ -9 +9 @@\n-O| x\n+O| y", "beyond the base transcript"),
    ("@@ -1 +2 @@\n-O| line one\n+O| y", "does not line up"),
    ("junk\n@@ -1 +1 @@", "diff text before the first @@ line"),
])
def test_broken_diffs_are_reported_with_their_scenario(broken, message):
    text = SMALL.replace("@@ -1 +0,0 @@\n-O| line one\n@@ -2,0 +2 @@\n+E| added after line two", broken)
    first = by_name(text)["first"]
    assert first.error and message in first.error and "small.md:5 (first) [0.8]" in first.error
    assert by_name(text)["combo"].error is None


def test_missing_exit_status_and_unknown_base_are_errors():
    text = SMALL.replace("O| Download done.\n[exit status 74]", "O| Download done.")
    assert "exactly one [exit status N]" in by_name(text)["combo"].error
    text = SMALL.replace("0.10: identical to 0.11", "0.10: identical to 0.12")
    assert "base version 0.12 has no full transcript" in by_name(text)["first"].error


def bar(label, fill, curr):
    return f"\r{label}\t[{'=' * fill}{' ' * (25 - fill)}] {4 * fill:3d}% {curr:12d} bytes"


def test_repaint_collapse_drops_only_repaints_with_an_unchanged_fill():
    a, a_later, b = bar("Erase   ", 4, 40960), bar("Erase   ", 4, 41000), bar("Erase   ", 5, 53248)
    assert collapse_repaints([(STDOUT, "x" + a), (STDOUT, a_later + a + b), (STDERR, a + a)]) == [
        (STDOUT, "x" + a + b), (STDERR, a + a)]
    assert collapse_repaints([(STDOUT, a + b + a)]) == [(STDOUT, a + b + a)]
    # the statics are shared by all bars and survive other output in between
    full_erase, download_full = bar("Erase   ", 25, 10), bar("Download", 25, 10)
    assert collapse_repaints([(STDOUT, full_erase + "\ndone\n" + download_full + bar("Download", 0, 0))]) == [
        (STDOUT, full_erase + "\ndone\n" + bar("Download", 0, 0))]


def test_a_second_boundary_repaint_seen_on_the_real_dfu_util_is_tolerated():
    recorded = [(STDOUT, bar("Download", 23, 233472) + bar("Download", 24, 241664))]
    slow_run = [(STDOUT, bar("Download", 23, 233472) + bar("Download", 23, 237568) + bar("Download", 24, 241664))]
    assert compare(recorded, 0, slow_run, 0) == ("", [])


def test_compare_sees_interleaving_and_exit_status():
    expected = [(STDOUT, "a\n"), (STDERR, "b\n")]
    assert compare(expected, 0, [(STDOUT, "a"), (STDOUT, "\n"), (STDERR, "b\n")], 0) == ("", [])
    summary, _ = compare(expected, 0, [(STDERR, "b\n"), (STDOUT, "a\n")], 0)
    assert summary == "line 1: expected 'O| a', got 'E| b'"
    summary, _ = compare(expected, 0, [(STDOUT, "a"), (STDERR, "\nb\n")], 0)
    assert summary == "line 1: expected 'O| a', got 'M| a'"
    summary, _ = compare([(STDOUT, "bar"), (STDERR, "x\n")], 0, [(STDOUT, "ba"), (STDERR, "rx\n")], 0)
    assert summary == "stream interleaving differs"
    summary, details = compare(expected, 0, expected, 74)
    assert summary == "exit status 74, expected 0" and details == ["-[exit status 0]", "+[exit status 74]"]


def test_banner_normalisation_frees_only_the_bug_report_address():
    ours = BANNERS["0.9"].replace("http://sourceforge.net/p/dfu-util/tickets/", "particle-py (not dfu-util)")
    expected = [(STDOUT, BANNERS["0.9"] + "x\n")]
    assert compare(expected, 0, [(STDOUT, ours + "x\n")], 0) == ("", [])
    wrong_year = ours.replace("2010-2016", "2010-2021")
    assert compare(expected, 0, [(STDOUT, wrong_year + "x\n")], 0)[0].startswith("line 4: expected")
    assert compare(expected, 0, [(STDOUT, "x\n")], 0)[0] == "line 1: expected 'O| dfu-util 0.9', got 'O| x'"
    no_banner = [(STDERR, "dfu-util: invalid option -- 'y'\n")]
    assert compare(no_banner, 64, [(STDOUT, ours)] + no_banner, 64)[0] == \
        "line 1: expected \"E| dfu-util: invalid option -- 'y'\", got 'O| dfu-util 0.9'"


def test_render_marks_odd_mixtures_and_a_missing_final_newline():
    assert render([(STDERR, "e"), (STDOUT, "o\n"), (STDOUT, "tail")]) == ["?| {E:e}{O:o}", "O| tail [no newline]"]


# -- the runner, driving a stand-in program on the real simulator ----------------------
def echo_devices(argv, stdout, stderr, environ):
    """Prints what the replay set up: the simulated devices, the knobs, the files, argv."""
    from particle_py.sim.bus import SimBus

    bus = SimBus.load(environ["PARTICLE_PY_SIM"])
    stdout.write(BANNERS[environ["PARTICLE_PY_DFU_UTIL_VERSION"]])
    for dev in bus.devices():
        stdout.write(f"{dev.vid:04x}:{dev.pid:04x} devnum={dev.devnum}\n")
    stdout.write(f"knobs {sorted(bus.knobs.items())}\n")
    stdout.write(f"files {sorted((n, os.path.getsize(n)) for n in os.listdir('.'))}\n")
    stdout.write("\r" + "Download\t[" + " " * 25 + "]   0%            0 bytes")
    stderr.write(f"dfu-util: {environ['PARTICLE_PY_DFU_UTIL_VERSION']} {argv[1]}\n")
    return 3


INVENTED = """## invented

Known profiles and knobs in a new combination. Device/env: `FAKE_PROFILES=stm32,dfu11nt,photon FAKE_TSIZE=0 FAKE_WRITE_FAIL_STATUS=3`. Command: `dfu-util -a 0 -D fw_suf.bin -U up.bin`

0.10:
```
O| 0483:df11 devnum=5
O| 1209:0001 devnum=6
O| 2b04:d006 devnum=7
O| knobs [('TSIZE', 0), ('WRITE_FAIL_STATUS', 3)]
O| files [('fw_suf.bin', 10016)]
M| \\rDownload\\t[                         ]   0%            0 bytesdfu-util: 0.10 -a
[exit status 3]
```
"""


def test_replay_sets_up_devices_knobs_and_inputs_and_captures_interleaving():
    (scenario,) = parse_file(INVENTED, "invented.md")
    outcome = replay(scenario, "0.10", program=echo_devices)
    assert (outcome.ok, outcome.summary) == (True, "")


def test_replay_reports_a_difference_in_one_line():
    (scenario,) = parse_file(INVENTED.replace("devnum=7", "devnum=8"), "invented.md")
    outcome = replay(scenario, "0.10", program=echo_devices)
    assert outcome.line() == ("FAIL invented.md::invented [0.10]: line 10: expected 'O| 2b04:d006 devnum=8', "
                              "got 'O| 2b04:d006 devnum=7'")


def test_replay_reports_crashes_and_unknown_inputs():
    (scenario,) = parse_file(INVENTED, "invented.md")
    outcome = replay(scenario, "0.10", program=lambda *a, **k: 1 / 0)
    assert outcome.summary == "crashed: ZeroDivisionError: division by zero"
    (scenario,) = parse_file(INVENTED.replace("-D fw_suf.bin -U up.bin", "-D firmware.hex"), "invented.md")
    outcome = replay(scenario, "0.10", program=echo_devices)
    assert outcome.summary.startswith("replay error: no recipe for input file 'firmware.hex'")


def test_input_recipes(tmp_path):
    made = inputs.make_inputs(["dfu-util", "-D", "fw10k.bin", "-U", "up.bin", "x/fw3.bin", "/etc/fw1.bin"],
                              tmp_path, must_exist="fw10k.bin")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in made) == ["fw10k.bin", "x/fw3.bin"]
    assert (tmp_path / "fw10k.bin").read_bytes() == inputs.seeded_bytes("fw10k.bin", 10000)
    suffixed = inputs.recipe_for("fw_suf.bin")()
    assert suffixed[-16:-4] == bytes.fromhex("ffff06d0042b0001") + b"UFD\x10"
    assert inputs.dfu_crc(suffixed[:-4]) == int.from_bytes(suffixed[-4:], "little")
    two = inputs.recipe_for("two.dfu")()
    assert two[:5] == b"DfuSe" and two[10] == 2 and int.from_bytes(two[6:10], "little") == len(two) - 16
    assert two[-10:-8] == b"\x1a\x01"


def test_real_command_line():
    scenario = by_name()["combo"]
    assert real_command(scenario) == [
        str(ROOT / "scripts" / "umockdev-run"), "--profile", "stm32", "--profile", "dfu11nt",
        "--fault", "FAKE_TSIZE=0", "--fault", "FAKE_NO_DNBUSY=1", "--", "dfu-util", "-a",
        "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", "-s", "0x08000000", "-D", "fw777.bin"]


def test_cli_counts_a_malformed_scenario_as_one_failure(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("## broken\n\nNo command here.\n\n0.11:\n```\nO| x\n[exit status 0]\n```\n")
    out = io.StringIO()
    assert cli.main([str(bad)], out=out) == 1
    assert out.getvalue().splitlines() == [
        f"FAIL {bad}::broken [?]: bad scenario: {bad}:1: no Command: `...` in the description",
        "0 passed, 1 failed"]


def test_cli_filters_by_name_and_version(tmp_path):
    out = io.StringIO()
    assert cli.main([str(RECORDED), "-k", "no_such_scenario"], out=out) == 0
    assert out.getvalue() == "0 passed, 0 failed\n"


# -- properties ------------------------------------------------------------------------
import difflib  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

TEXT = st.text(st.characters(blacklist_characters="\\\n\r\t`", blacklist_categories=("Cs",)), max_size=12)
LINE = st.tuples(st.sampled_from("OE"), TEXT).map(lambda t: f"{t[0]}| {t[1]}")
TRANSCRIPT = st.tuples(st.lists(LINE, max_size=8), st.integers(0, 255)).map(
    lambda t: t[0] + [f"[exit status {t[1]}]"])


def file_with(base: list, others: dict, tool_header: bool) -> str:
    parts = ["## generated", "", "Device/env: `FAKE_PROFILES=photon`. Command: `dfu-util -l`", "",
             "0.11:", "```", *base, "```", ""]
    for version, lines in others.items():
        if lines == base:
            parts += [f"{version}: identical to 0.11 (apart from the banner).", ""]
            continue
        diff = list(difflib.unified_diff(base, lines, "a", "b", n=0, lineterm=""))
        parts += [f"{version}: differences from 0.11 (`-` = 0.11 line, `+` = {version} line):", "```",
                  *(diff if tool_header else diff[2:]), "```", ""]
    return "\n".join(parts)


@settings(max_examples=150)
@given(TRANSCRIPT, st.lists(TRANSCRIPT, min_size=1, max_size=3), st.booleans())
def test_diff_reconstruction_gives_back_every_version(base, others, tool_header):
    versions = dict(zip(["0.10", "0.9", "0.8"], others))
    (scenario,) = parse_file(file_with(base, versions, tool_header), "gen.md")
    assert scenario.error is None
    assert [line.render() for line in scenario.transcripts["0.11"]] == base
    for version, lines in versions.items():
        assert [line.render() for line in scenario.transcripts[version]] == lines


@given(st.text(max_size=300))
def test_any_text_parses_without_raising(text):
    for scenario in parse_file("## x\n" + text, "any.md"):
        assert scenario.error or scenario.transcripts


@given(st.lists(st.tuples(st.sampled_from([STDOUT, STDERR]), st.text(max_size=6)), max_size=8))
def test_render_keeps_all_text(segments):
    lines = render(segments)
    text = "".join(t for _, t in segments)
    assert len(lines) == text.count("\n") + (0 if text.endswith("\n") or not text else 1)
