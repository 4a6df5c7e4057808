"""dfu-util's command line: exact stderr text, exit status and parsed values, per version."""
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from particle_py.cli.dfu_util.options import (ANY, IMPOSSIBLE, VERSIONS, OptionError, check_mode, help_text,
                                              parse_args, parse_device_ids, parse_serials)

COMPAT = Path(__file__).resolve().parents[2] / "compat" / "dfu-util"
OLD = ("0.8", "0.9")
NEW = ("0.10", "0.11")


def recorded_old_help() -> str:
    """The 0.9 help text as recorded in scenario stm32_mass_erase_only (after 'You need to ...')."""
    text = (COMPAT / "scenarios.md").read_text()
    block = text[text.index("## stm32_mass_erase_only"):text.index("## stm32_unprotect")]
    block = block[block.index("0.9: differences"):block.index("0.8: differences")]
    lines = [line[len("+E| "):] for line in block.splitlines() if line.startswith("+E| ")]
    assert lines[0] == "You need to specify one of -D or -U"
    return "".join(line.replace("\\t", "\t") + "\n" for line in lines[1:])


def error(argv, version, prog="dfu-util"):
    with pytest.raises(OptionError) as caught:
        parse_args([prog, *argv], version, prog)
    return caught.value


def stderr_of(argv, version, prog="dfu-util"):
    err = error(argv, version, prog)
    return err.stderr_text(version), err.exit_code


# -- help texts ------------------------------------------------------------------------
@pytest.mark.parametrize("version", OLD)
def test_old_help_text_is_the_recorded_one(version):
    assert help_text(version) == recorded_old_help()


@pytest.mark.parametrize("version", NEW)
def test_new_help_text_is_the_reference_one(version):
    assert help_text(version) == (COMPAT / "help-0.10.txt").read_text()


@pytest.mark.parametrize("version,status", [("0.8", 64), ("0.9", 64), ("0.10", 64), ("0.11", 0)])
@pytest.mark.parametrize("word", ["-h", "--help", "--he", "-vh"])
def test_help_prints_only_the_help(version, status, word):
    assert stderr_of([word, "-l"], version) == (help_text(version), status)


# -- getopt errors: message + help, exit 64, every version -----------------------------
GETOPT_ERRORS = [
    (["-y"], "dfu-util: invalid option -- 'y'"),
    (["--yes"], "dfu-util: unrecognized option '--yes'"),
    (["--foo=bar", "-l"], "dfu-util: unrecognized option '--foo=bar'"),
    (["-l", "-a"], "dfu-util: option requires an argument -- 'a'"),
    (["-la"], "dfu-util: option requires an argument -- 'a'"),
    (["--alt"], "dfu-util: option '--alt' requires an argument"),
    (["--conf"], "dfu-util: option '--configuration' requires an argument"),
    (["--list=1"], "dfu-util: option '--list' doesn't allow an argument"),
    (["--li=1"], "dfu-util: option '--list' doesn't allow an argument"),
    (["--det"], "dfu-util: option '--det' is ambiguous; possibilities: '--detach' '--detach-delay'"),
    (["--up", "x"], "dfu-util: option '--up' is ambiguous; possibilities: '--upload' '--upload-size'"),
    (["--ver"], "dfu-util: option '--ver' is ambiguous; possibilities: '--version' '--verbose'"),
    (["-:"], "dfu-util: invalid option -- ':'"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("argv,line", GETOPT_ERRORS)
def test_getopt_errors(version, argv, line):
    assert stderr_of(argv, version) == (line + "\n" + help_text(version), 64)


@pytest.mark.parametrize("version,line", [
    ("0.8", "dfu-util: option '--d' is ambiguous; possibilities: '--detach' '--detach-delay' '--device' "
            "'--download' '--dfuse-address'"),
    ("0.11", "dfu-util: option '--d' is ambiguous; possibilities: '--detach' '--detach-delay' '--device' "
             "'--download' '--dfuse-address' '--devnum'"),
])
def test_ambiguity_list_follows_the_table_of_the_version(version, line):
    assert stderr_of(["--d"], version) == (line + "\n" + help_text(version), 64)


def test_dev_is_ambiguous_only_once_devnum_exists():
    assert error(["--dev"], "0.10").lines == [
        "dfu-util: option '--dev' is ambiguous; possibilities: '--device' '--devnum'"]
    assert parse_args(["dfu-util", "--dev", "2b04:d006"], "0.9", "dfu-util").vendor == 0x2B04


@pytest.mark.parametrize("version", OLD)
@pytest.mark.parametrize("argv,line", [(["-w"], "dfu-util: invalid option -- 'w'"),
                                       (["-n", "5"], "dfu-util: invalid option -- 'n'"),
                                       (["--wait"], "dfu-util: unrecognized option '--wait'")])
def test_wait_and_devnum_do_not_exist_before_0_10(version, argv, line):
    assert error(argv, version).lines == [line]


def test_getopt_messages_use_argv0_verbatim_but_errx_uses_the_basename():
    assert error(["-y"], "0.11", prog="/usr/bin/dfu-util").lines == ["/usr/bin/dfu-util: invalid option -- 'y'"]
    assert error(["-t", "x"], "0.11", prog="/usr/bin/dfu-util").lines == [
        "dfu-util: Something went wrong with the argument of --transfer-size", ""]


def test_first_problem_wins_in_argument_order():
    assert error(["-t", "x", "-y"], "0.11").lines[0].endswith("--transfer-size")
    assert error(["-y", "-h"], "0.11").lines == ["dfu-util: invalid option -- 'y'"]
    assert error(["-h", "-y"], "0.11").lines == []


# -- numbers ---------------------------------------------------------------------------
@pytest.mark.parametrize("version,status", [("0.9", 70), ("0.10", 70), ("0.11", 64)])
@pytest.mark.parametrize("argv,name", [
    (["-t", "1k"], "transfer-size"), (["--transfer-size=0x"], "transfer-size"),
    (["-c", "one"], "cfg"), (["--configuration", "1 "], "cfg"), (["--conf=08"], "cfg"),
    (["-i", "0.5"], "intf"), (["--interface", "x"], "intf"),
    (["-E", "5s"], "detach-delay"), (["-Z", "99999999999999999999"], "upload-size")])
def test_bad_numbers(version, status, argv, name):
    line = f"dfu-util: Something went wrong with the argument of --{name}"
    assert stderr_of(argv, version) == (line + "\n\n", status)


def test_empty_number_reports_no_digits():
    assert stderr_of(["--cfg="], "0.11") == ("dfu-util: No digits were found from the argument of --cfg\n\n", 64)


@pytest.mark.parametrize("version", ("0.9",) + NEW)
def test_good_numbers_use_c_bases(version):
    opts = parse_args(["dfu-util", "-t", "0x400", "-c", "010", "-i", " -1", "-E", "0", "-Z", "3000"],
                      version, "dfu-util")
    assert (opts.transfer_size, opts.cfg, opts.intf, opts.detach_delay, opts.upload_size) == (1024, 8, ANY, 0, 3000)


def test_0_8_uses_atoi_and_never_complains():
    opts = parse_args(["dfu-util", "-t", "1k", "-c", "x", "-E", "0x10", "-Z", "12abc"], "0.8", "dfu-util")
    assert (opts.transfer_size, opts.cfg, opts.detach_delay, opts.upload_size) == (1, ANY, 0, 12)


def test_transfer_size_is_unsigned_and_cfg_zero_means_any():
    opts = parse_args(["dfu-util", "-t", "-1", "-c", "0"], "0.11", "dfu-util")
    assert opts.transfer_size == 0xFFFFFFFF and opts.cfg == ANY


def test_devnum_uses_atoi():
    assert parse_args(["dfu-util", "-n", "7x"], "0.10", "dfu-util").devnum == 7


def test_usb_paths_were_not_supported_in_0_8():
    assert stderr_of(["-p", "1-3"], "0.8") == (
        "dfu-util: USB device paths are not supported by this dfu-util.\n\n", 70)
    assert parse_args(["dfu-util", "-p", "1-3"], "0.9", "dfu-util").path == "1-3"


# -- leftovers -------------------------------------------------------------------------
@pytest.mark.parametrize("version", NEW)
def test_unexpected_argument_after_all_options(version):
    assert stderr_of(["foo", "-l", "bar"], version) == (
        "Error: Unexpected argument: foo\n\n" + help_text(version), 64)
    assert error(["-l", "--", "-D", "x"], version).lines[0] == "Error: Unexpected argument: -D"


@pytest.mark.parametrize("version", OLD)
def test_old_versions_ignore_leftovers(version):
    opts = parse_args(["dfu-util", "foo", "-l", "--", "-x"], version, "dfu-util")
    assert opts.mode == "list" and opts.leftover == ["foo", "-x"]


@pytest.mark.parametrize("version", NEW)
def test_posixly_correct_stops_at_the_first_non_option(version):
    # checked against the real 0.11: the -y after foo is never looked at
    with pytest.raises(OptionError) as caught:
        parse_args(["dfu-util", "-l", "foo", "-y"], version, "dfu-util", environ={"POSIXLY_CORRECT": ""})
    assert caught.value.lines == ["Error: Unexpected argument: foo", ""]
    opts = parse_args(["dfu-util", "-l", "foo", "-y"], "0.9", "dfu-util", environ={"POSIXLY_CORRECT": "1"})
    assert opts.leftover == ["foo", "-y"]


def test_getopt_errors_come_before_the_leftover_check():
    assert error(["foo", "-y"], "0.11").lines == ["dfu-util: invalid option -- 'y'"]


# -- values ----------------------------------------------------------------------------
def test_clusters_attached_values_long_forms_and_permutation():
    opts = parse_args(["dfu-util", "-lvv", "-a0", "--cfg=1", "--conf", "2", "--down", "f.bin", "-R"],
                      "0.11", "dfu-util")
    assert (opts.mode, opts.verbose, opts.alt, opts.cfg, opts.download_file, opts.reset) == (
        "download", 2, 0, 2, "f.bin", True)


@pytest.mark.parametrize("version", VERSIONS)
def test_last_mode_wins_and_the_file_is_shared(version):
    opts = parse_args(["dfu-util", "-D", "a.bin", "-U", "b.bin", "-V"], version, "dfu-util")
    assert (opts.mode, opts.file_name, opts.upload_file, opts.download_file) == ("version", "b.bin", None, None)
    opts = parse_args(["dfu-util", "-l", "-U", "up.bin"], version, "dfu-util")
    assert (opts.mode, opts.upload_file) == ("upload", "up.bin")


def test_alt_number_or_name_by_strtoul():
    parse = lambda a: parse_args(["dfu-util", "-a", a], "0.11", "dfu-util")  # noqa: E731
    assert parse("0x1").alt == 1
    assert parse("").alt == 0
    assert parse("1 ").alt == "1 "
    assert parse("@DCT Flash   /0x00000000/01*016Kg").alt == "@DCT Flash   /0x00000000/01*016Kg"
    assert parse("4294967295").alt is None  # (int)ULONG -> -1: any alt
    sticky = parse_args(["dfu-util", "-a", "name", "-a", "1"], "0.11", "dfu-util")
    assert (sticky.alt, sticky.alt_index, sticky.alt_name) == (1, 1, "name")


def test_detach_selects_interface_and_alt_zero_in_0_8_only():
    assert (lambda o: (o.intf, o.alt))(parse_args(["dfu-util", "-e"], "0.8", "dfu-util")) == (0, 0)
    assert (lambda o: (o.intf, o.alt))(parse_args(["dfu-util", "-e", "-a", "1"], "0.8", "dfu-util")) == (0, 1)
    assert (lambda o: (o.intf, o.alt))(parse_args(["dfu-util", "-e"], "0.9", "dfu-util")) == (ANY, None)


def test_wait_long_form_requires_an_argument_bug():
    opts = parse_args(["dfu-util", "--wait", "-l"], "0.11", "dfu-util")
    assert opts.wait and opts.mode is None  # -l was eaten as --wait's argument
    assert parse_args(["dfu-util", "--wait=x", "-w"], "0.10", "dfu-util").wait
    assert error(["--wait"], "0.11").lines == ["dfu-util: option '--wait' requires an argument"]


def test_defaults():
    opts = parse_args(["dfu-util"], "0.11", "dfu-util")
    assert (opts.mode, opts.detach_delay, opts.vendor, opts.vendor_dfu, opts.devnum, opts.dfuse_address,
            opts.serial, opts.wait, opts.reset, opts.transfer_size) == (
        None, 5, ANY, ANY, ANY, None, None, False, False, 0)


# -- -d and -S -------------------------------------------------------------------------
@pytest.mark.parametrize("text,ids", [
    ("2b04:d006", (0x2B04, 0xD006, ANY, ANY)),
    ("0x2b04:0XD006", (0x2B04, 0xD006, ANY, ANY)),
    (",2b04:d006", (IMPOSSIBLE, IMPOSSIBLE, 0x2B04, 0xD006)),
    ("1457:51ab,:2bc", (0x1457, 0x51AB, 0x1457, 0x02BC)),
    ("1457:51ab,2b04", (0x1457, 0x51AB, 0x2B04, 0x51AB)),
    ("2b04", (0x2B04, ANY, ANY, ANY)),
    ("*:d006", (ANY, 0xD006, ANY, ANY)),
    ("-:-", (IMPOSSIBLE, IMPOSSIBLE, ANY, ANY)),
    (":", (ANY, ANY, ANY, ANY)),
    ("zz:yy", (ANY, ANY, ANY, ANY)),
    ("2b04,:d006", (0x2B04, ANY, 0x2B04, 0xD006)),
    ("12345:1", (IMPOSSIBLE, 1, ANY, ANY)),
])
def test_device_ids(text, ids):
    assert parse_device_ids(text) == ids


def test_last_device_option_replaces_all_four():
    opts = parse_args(["dfu-util", "-d", ",1:2", "-d", "3:4"], "0.11", "dfu-util")
    assert (opts.vendor, opts.product, opts.vendor_dfu, opts.product_dfu) == (3, 4, ANY, ANY)


@pytest.mark.parametrize("text,serials", [("ABC", ("ABC", "ABC")), ("A,B", ("A", "B")), (",B", (None, "B")),
                                          ("A,", ("A", None)), ("", (None, None)), ("A,B,C", ("A", "B,C"))])
def test_serials(text, serials):
    assert parse_serials(text) == serials


# -- the no-mode rule (after the banner) -----------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_no_mode(version):
    opts = parse_args(["dfu-util", "-a", "0"], version, "dfu-util")
    with pytest.raises(OptionError) as caught:
        check_mode(opts, version)
    assert (caught.value.stderr_text(version), caught.value.exit_code) == (
        "You need to specify one of -D or -U\n" + help_text(version), 64)


@pytest.mark.parametrize("version", VERSIONS)
def test_dfuse_address_alone(version):
    opts = parse_args(["dfu-util", "-a", "0", "-s", ":leave"], version, "dfu-util")
    if version in OLD:
        with pytest.raises(OptionError):
            check_mode(opts, version)
    else:
        checked = check_mode(opts, version)
        assert (checked.mode, checked.command_mode, checked.download_file) == ("download", True, None)


def test_a_mode_passes_check_mode_untouched():
    opts = parse_args(["dfu-util", "-l"], "0.8", "dfu-util")
    assert check_mode(opts, "0.8") is opts


# -- properties ------------------------------------------------------------------------
WORDS = st.one_of(
    st.sampled_from(["-l", "-e", "-V", "-v", "-h", "-R", "-w", "-a", "-d", "-s", "-D", "-U", "-t", "-c", "-i",
                     "-E", "-Z", "-n", "-p", "-S", "--", "-", "--d", "--dev", "--wait", "--alt=", "--cfg=1",
                     "--conf", "--list=1", "--up", "-lva0", "-y", "0x10", "010", "08", " 1", "", "foo", "1-2",
                     "2b04:d006", ",:", "*", "-1", "4294967296", "99999999999999999999"]),
    st.text(max_size=8),
)


@given(st.sampled_from(VERSIONS), st.lists(WORDS, max_size=10), st.sampled_from(["dfu-util", "/x/dfu-util", ""]))
def test_any_argv_gives_options_or_an_option_error(version, words, prog):
    try:
        opts = parse_args([prog, *words], version, prog)
    except OptionError as err:
        assert err.exit_code in (0, 64, 70)
        assert all(isinstance(line, str) for line in err.lines)  # may hold a newline the user typed
        text = err.stderr_text(version)
        assert text.endswith("\n")
        assert err.show_help == text.endswith(help_text(version))
        return
    assert opts.mode in (None, "version", "list", "detach", "upload", "download")
    for value in (opts.vendor, opts.product, opts.vendor_dfu, opts.product_dfu):
        assert value in (ANY, IMPOSSIBLE) or 0 <= value <= 0xFFFF
    assert 0 <= opts.transfer_size <= 0xFFFFFFFF
    assert -(1 << 31) <= opts.detach_delay < (1 << 31)
    if version in NEW:
        assert opts.leftover == []


@given(st.text(max_size=20))
def test_device_id_parser_total(text):
    for value in parse_device_ids(text):
        assert value in (ANY, IMPOSSIBLE) or 0 <= value <= 0xFFFF


HEX = st.integers(0, 0xFFFF)


@given(HEX, HEX, st.booleans(), st.one_of(st.none(), st.tuples(HEX, HEX)))
def test_device_id_parser_reads_what_was_written(vendor, product, prefix, dfu):
    fmt = (lambda v: f"0x{v:x}") if prefix else (lambda v: f"{v:04X}")
    text = f"{fmt(vendor)}:{fmt(product)}" + (f",{dfu[0]:x}:{dfu[1]:x}" if dfu else "")
    expected_dfu = dfu if dfu else (ANY, ANY)
    assert parse_device_ids(text) == (vendor, product, *expected_dfu)
