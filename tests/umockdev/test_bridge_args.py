"""umockdev-run's command line (outside input): parsed without umockdev or gi."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

import umockdev_bridge as bridge     # tools/ (tests/umockdev/conftest.py puts it on the path)

NAME = st.from_regex(r"[a-z][a-z0-9]{0,8}(-normal)?", fullmatch=True)
OPTION = st.tuples(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True))
SPEC = st.tuples(NAME, st.lists(OPTION, max_size=3)).map(
    lambda t: t[0] + (":" + ",".join(f"{k}={v}" for k, v in t[1]) if t[1] else ""))


@given(st.lists(SPEC, max_size=5))
def test_profile_lists_split_back_into_their_specs(specs):
    assert bridge._split_specs(",".join(specs)) == specs


@given(st.text(max_size=40))
def test_any_profile_text_splits_without_error(text):
    parts = bridge._split_specs(text)
    assert all(parts) and "".join(parts).replace(",", "") == text.replace(",", "")


def test_platform_and_profile_keep_command_line_order():
    opts, command = bridge._parse_args(["--profile", "dfu11", "--platform", "photon,p1", "--profile", "photon",
                                        "--", "dfu-util", "-l"])
    assert command == ["dfu-util", "-l"]
    assert bridge._profiles(opts) == ["dfu11", "photon:real=1", "p1", "photon"]


def test_no_profile_means_default_and_empty_means_none():
    assert bridge._profiles(bridge._parse_args(["--", "true"])[0]) is None
    assert bridge._profiles(bridge._parse_args(["--profile", "", "--", "true"])[0]) == []


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20))
def test_fault_values_are_kept_verbatim(value):
    opts, _ = bridge._parse_args(["--fault", f"FAKE_TSIZE={value}", "--", "true"])
    assert bridge._knobs(opts) == {"FAKE_TSIZE": value.strip()}


@pytest.mark.parametrize("argv", [["--profile", "photon"], ["--", ], ["--fault", "NOEQUALS", "--", "true"]])
def test_bad_command_lines_exit(argv):
    with pytest.raises(SystemExit):
        opts, _ = bridge._parse_args(argv)
        bridge._knobs(opts)
