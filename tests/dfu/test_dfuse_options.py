import pytest
from hypothesis import given, strategies as st

from particle_py.dfu.dfuse_options import ALL_MODIFIERS, DfuseOptionError, parse

OLD_MODIFIERS = ("force", "leave", "unprotect", "mass-erase")


@pytest.mark.parametrize("text,address,length,flags", [
    ("0x08020000", 0x08020000, 0, {}),
    ("0x08020000:leave", 0x08020000, 0, {"leave": True}),
    (":mass-erase:force", None, 0, {"mass_erase": True, "force": 1}),
    ("0x08000000:16384", 0x08000000, 16384, {}),
    ("34:leave", 34, 0, {"leave": True}),
    ("010", 8, 0, {}),                        # strtoul base 0: octal
    ("", 0, 0, {}),                           # an empty address is address 0
    ("0x1FFFC000::16:force:force", 0x1FFFC000, 16, {"force": 2}),
    ("0:will-reset", 0, 0, {"will_reset": True}),
])
def test_examples(text, address, length, flags):
    opts = parse(text)
    assert (opts.address, opts.length) == (address, length)
    for name, value in flags.items():
        assert getattr(opts, name) == value


def test_errors_quote_the_rest_of_the_string():
    with pytest.raises(DfuseOptionError, match="^Invalid dfuse address: 0x0800zz$"):
        parse("0x0800zz")
    with pytest.raises(DfuseOptionError, match="^Invalid dfuse modifier: lea:force$"):
        parse("0x08000000:lea:force")        # whole words only (dfu-util: undefined behaviour)
    with pytest.raises(DfuseOptionError, match="^Invalid dfuse modifier: will-reset$"):
        parse("0x08010000:will-reset", modifiers=OLD_MODIFIERS)


def test_zero_address_absent_for_old_versions():
    assert parse("0:leave", zero_is_absent=True).address is None
    assert parse("0:leave").address == 0


@given(st.text(alphabet="0123456789abcdefxX:-+ ", max_size=30) | st.text(max_size=30))
def test_any_string_parses_or_raises_option_error(text):
    try:
        opts = parse(text)
    except DfuseOptionError as exc:
        assert exc.exit_code == 64 and exc.rest and text.endswith(exc.rest)
        return
    assert opts.address is None or 0 <= opts.address <= 0xFFFFFFFF


@given(st.integers(0, 0xFFFFFFFF), st.lists(st.sampled_from(ALL_MODIFIERS), max_size=5), st.integers(1, 99999))
def test_generated_strings(address, words, length):
    opts = parse(":".join(["0x%x" % address] + words + [str(length)]))
    assert (opts.address, opts.length, opts.force) == (address, length, words.count("force"))
    assert opts.leave == ("leave" in words) and opts.mass_erase == ("mass-erase" in words)
