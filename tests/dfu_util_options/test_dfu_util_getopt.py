"""The getopt_long emulation on its own, with tables that are not dfu-util's."""
from hypothesis import given, strategies as st

from particle_py.cli.dfu_util.getopt import (NO_ARGUMENT, OPTIONAL_ARGUMENT, REQUIRED_ARGUMENT,
                                             LongOption, getopt_long)

LONG = (
    LongOption("color", OPTIONAL_ARGUMENT, "C"),
    LongOption("colour", OPTIONAL_ARGUMENT, "C"),
    LongOption("output", REQUIRED_ARGUMENT, "o"),
    LongOption("out-dir", REQUIRED_ARGUMENT, "O"),
    LongOption("quiet", NO_ARGUMENT, "q"),
)
SHORT = "qo:x::O:"


def run(*args, shortopts=SHORT, longopts=LONG, prog="prog"):
    results, leftover = getopt_long([prog, *args], shortopts, longopts)
    return [(r.key, r.optarg, r.error) for r in results], leftover


def test_permutation_keeps_non_options_in_order_after_the_options():
    assert run("a", "-q", "b", "-o", "f", "c") == ([("q", None, None), ("o", "f", None)], ["a", "b", "c"])


def test_double_dash_ends_options_and_is_not_returned():
    assert run("a", "--", "-q", "b") == ([], ["a", "-q", "b"])


def test_lone_dash_is_a_non_option():
    assert run("-", "-q") == ([("q", None, None)], ["-"])


def test_clusters_and_attached_values():
    assert run("-qqofile") == ([("q", None, None), ("q", None, None), ("o", "file", None)], [])


def test_required_argument_takes_the_next_word_even_if_it_looks_like_an_option():
    assert run("-o", "-q") == ([("o", "-q", None)], [])
    assert run("--output", "--") == ([("o", "--", None)], [])


def test_optional_short_argument_only_attached():
    assert run("-x", "v") == ([("x", None, None)], ["v"])
    assert run("-xv") == ([("x", "v", None)], [])


def test_optional_long_argument_only_with_equals():
    assert run("--color", "red") == ([("C", None, None)], ["red"])
    assert run("--color=red") == ([("C", "red", None)], [])


def test_prefix_of_aliases_for_the_same_option_is_not_ambiguous():
    # color and colour have the same has_arg and val
    assert run("--col") == ([("C", None, None)], [])


def test_ambiguity_lists_first_match_and_every_different_later_match_in_table_order():
    got, _ = run("--o=1")
    assert got == [("?", None, "prog: option '--o=1' is ambiguous; possibilities: '--output' '--out-dir'")]


def test_exact_match_beats_prefix():
    long = (LongOption("up", NO_ARGUMENT, "u"), LongOption("update", NO_ARGUMENT, "U"))
    assert run("--up", longopts=long, shortopts="") == ([("u", None, None)], [])


def test_error_texts_use_argv0_verbatim_and_full_long_names():
    got, _ = run("-z", "-o", prog="/opt/bin/prog")
    assert got == [("?", None, "/opt/bin/prog: invalid option -- 'z'"),
                   ("?", None, "/opt/bin/prog: option requires an argument -- 'o'")]
    got, _ = run("--outp")
    assert got == [("?", None, "prog: option '--output' requires an argument")]
    got, _ = run("--qu=1")
    assert got == [("?", None, "prog: option '--quiet' doesn't allow an argument")]
    got, _ = run("--nope=2")
    assert got == [("?", None, "prog: unrecognized option '--nope=2'")]


def test_colon_is_never_an_option_letter():
    got, _ = run("-:")
    assert got == [("?", None, "prog: invalid option -- ':'")]


def test_parsing_goes_on_after_an_error_like_glibc():
    got, leftover = run("-zq", "a")
    assert got == [("?", None, "prog: invalid option -- 'z'"), ("q", None, None)]
    assert leftover == ["a"]


def test_return_in_order():
    got, leftover = run("a", "-q", "--", "b", shortopts="-q")
    assert got == [("\x01", "a", None), ("q", None, None)] and leftover == ["b"]


def test_silent_mode_and_require_order():
    got, _ = run("-o", shortopts=":o:")
    assert got == [(":", None, None)]
    got, leftover = run("-q", "a", "-q", shortopts="+q")
    assert got == [("q", None, None)] and leftover == ["a", "-q"]


def _is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@given(st.lists(st.sampled_from(["-q", "-o", "-x", "-xy", "--", "-", "--col", "--o", "--out-dir=", "--qu=1",
                                 "a", "b", "-qoz", "--nope", "--output", "-z", "--=", "-qq"]), max_size=12))
def test_every_word_is_accounted_for(words):
    results, leftover = getopt_long(["p", *words], SHORT, LONG)
    assert _is_subsequence(leftover, words)
    consumers = {"-o", "--output", "--o"}
    if "--" not in words and not consumers & set(words):
        assert leftover == [w for w in words if w == "-" or not w.startswith("-")]
    for r in results:
        assert (r.key == "?") == (r.error is not None)
        if r.error:
            assert r.error.startswith("p: ")
