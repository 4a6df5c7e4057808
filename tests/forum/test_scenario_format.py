"""The .scenario parser: what it accepts, and the errors it gives for what it does not."""
import re

import pytest
from hypothesis import given, strategies as st

from forum_replay.scenario import ScenarioError, parse

GOOD = """\
# a comment
title: t
transcript: 002-x.txt
dfu-util: 0.8
devices: photon photon:FAKE_OPEN_FAIL=-3
file: a.bin bytes 10
file: b.bin empty
led: blinking yellow

setup: dfu-util -l
$ dfu-util -l
exit: 0
| dfu-util 0.8
^ Found DFU
~ devnum=\\d+
! Cannot open
holds: 0 0x08020000 a.bin

$ dfu-util -D a.bin
exit: nonzero
"""


def test_a_full_scenario_parses():
    sc = parse(GOOD)
    assert sc.get("transcript") == "002-x.txt"
    assert sc.all("file") == ["a.bin bytes 10", "b.bin empty"]
    first, second = sc.steps
    assert first.setup == ["dfu-util -l"] and first.command == "dfu-util -l" and first.exit == "0"
    assert [(e.kind, e.text) for e in first.expects] == [
        ("|", "dfu-util 0.8"), ("^", "Found DFU"), ("~", "devnum=\\d+"), ("!", "Cannot open")]
    assert first.holds == [(0, 0x08020000, "a.bin")]
    assert second.exit == "nonzero" and second.setup == []


@pytest.mark.parametrize("text, message", [
    ("title: t\n$ dfu-util -l\n", "no 'transcript:'"),
    ("transcript: x\n", "no '$ command' step"),
    ("transcript: x\n| line\n$ a\n", "expected output before any"),
    ("transcript: x\nexit: 0\n$ a\n", "'exit:' needs a step"),
    ("transcript: x\n$ a\nexit: maybe\n", "'exit:' needs a step"),
    ("transcript: x\n$ a\nholds: 0 zz f\n", "must be numbers"),
    ("transcript: x\n$ a\n~ (unclosed\n", "bad regex"),
    ("transcript: x\nflavour: mint\n$ a\n", "unknown key 'flavour'"),
    ("transcript: x\ntranscript: y\n$ a\n", "given twice"),
    ("transcript: x\n$ a\ndevices: photon\n", "after the first step"),
    ("transcript: x\n$ a\nsetup: b\n", "'setup:' after the last step"),
    ("transcript: x\nconsole-width: wide\n$ a\n", "console-width must be a number"),
    ("transcript: x\njust words\n$ a\n", "not 'key: value'"),
])
def test_malformed_scenarios_are_rejected_with_the_reason(text, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse(text)


@given(st.text())
def test_any_text_either_parses_or_raises_scenario_error(text):
    try:
        sc = parse(text)
    except ScenarioError:
        return
    assert sc.steps and sc.get("transcript") is not None
