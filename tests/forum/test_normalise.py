"""The normalisation rules: each undoes one change forums, consoles or posters made."""
from hypothesis import given, strategies as st

from forum_replay import normalise


def test_forum_ellipsis_and_quotes_match_the_tool():
    assert normalise.line("Opening DFU capable USB device\u2026") == "Opening DFU capable USB device..."
    assert normalise.line("name=\u201cUNDEFINED\u201d") == 'name="UNDEFINED"'
    assert normalise.line("Apparently I didn\u2019t find") == "Apparently I didn't find"


def test_folded_spaces_and_tabs_compare_equal():
    tool = "Download\t[=========================] 100%        22436 bytes"
    forum = "Download [=========================] 100% 22436 bytes"
    assert normalise.lines(tool) == normalise.lines(forum) == [forum]


def test_redacted_and_real_device_ids_become_one_token():
    for text in ("attempting to add a new public key for device 5**************3",
                 "attempting to add a new public key for device xxxx:xxxx",
                 "attempting to add a new public key for device 0123456789abcdef01234567"):
        assert normalise.line(text) == "attempting to add a new public key for device <ID>"
    assert normalise.line("spawning dfu-util -D XXXYYYZZZDeviceID_rsa_new.der") == \
        "spawning dfu-util -D <ID>_rsa_new.der"


def test_short_serials_are_not_taken_for_device_ids():
    assert 'serial="00000000010C"' in normalise.line('alt=0, serial="00000000010C"')


def test_markdown_residue_is_removed():
    assert normalise.line("0 bytes**Page at 0x08005000 is not writeable**") == \
        "0 bytesPage at 0x08005000 is not writeable"
    assert normalise.line("> Download done.") == "Download done."
    assert normalise.line("_dfu-util: Last page at 0x080a14d7 is not writeable") == \
        "Last page at 0x080a14d7 is not writeable"
    # Markdown ate the asterisks of a flash map in one post: both forms compare equal
    assert normalise.line('name="@Internal Flash /0x08000000/20001Ka,108001Kg"') == \
        normalise.line('name="@Internal Flash  /0x08000000/20*001Ka,108*001Kg"')


def test_program_prefix_is_dropped_anywhere_on_the_line():
    assert normalise.line("dfu-util: Invalid DFU suffix signature") == "Invalid DFU suffix signature"
    assert normalise.line("Error writing firmware: dfu-util: Error during download get_status") == \
        "Error writing firmware: Error during download get_status"
    assert normalise.lines("dfu-util:\nFile too short for DFU suffix") == ["File too short for DFU suffix"]


def test_bus_topology_and_bug_address_are_not_compared():
    a = 'Found DFU: [2b04:d006] ver=0200, devnum=18, cfg=1, intf=0, path="253-1.1.6", alt=1'
    b = 'Found DFU: [2b04:d006] ver=0200, devnum=5, cfg=1, intf=0, path="1-2", alt=1'
    assert normalise.line(a) == normalise.line(b)
    assert normalise.line("Please report bugs to dfu-util@lists.gnumonks.org") == "Please report bugs to"
    assert normalise.line("Please report bugs to") == "Please report bugs to"


def test_absolute_directories_are_dropped_layout_strings_kept():
    assert normalise.line("Saved firmware to: /Users/gabe/code/blinky/photon_firmware_1.bin") == \
        "Saved firmware to: photon_firmware_1.bin"
    assert normalise.line(r"checking file C:\Users\andyr\tinker.bin") == "checking file tinker.bin"
    layout = 'name="@Internal Flash   /0x08000000/03*016Ka,01*016Kg"'
    assert normalise.line(layout) == 'name="@Internal Flash /0x08000000/03016Ka,01016Kg"'


def test_carriage_return_repaints_become_lines_and_blank_lines_go():
    out = "\rDownload\t[    ]   0%            0 bytes\rDownload\t[====]  100%   4096 bytes\nDownload done.\n\n"
    assert normalise.lines(out) == ["Download [ ] 0% 0 bytes", "Download [====] 100% 4096 bytes", "Download done."]


def test_console_wrapping_reproduces_the_posted_pieces():
    ours = ('Found DFU: [2b04:d006] ver=0200, devnum=5, cfg=1, intf=0, alt=1, '
            'name="@DCT Flash   /0x00000000/01*016Kg", serial="00000000010C"')
    posted = ['Found DFU: [2b04:d006] ver=0200, devnum=3, cfg=1, intf=0, alt=1, name="@DCT Flas',
              'h /0x00000000/01*016Kg", serial="00000000010C"']
    assert normalise.lines(ours, width=80) == [normalise.line(p) for p in posted]


def test_the_long_bug_report_line_does_not_wrap_into_a_stray_piece():
    ours = "Please report bugs to particle-py 0.1.0 (a Python re-implementation of dfu-util, not dfu-util)"
    assert normalise.lines(ours, width=80) == ["Please report bugs to"]


@given(st.text())
def test_normalising_twice_changes_nothing(text):
    once = normalise.line(text)
    assert normalise.line(once) == once


@given(st.text())
def test_lines_are_never_blank_and_never_hold_line_breaks(text):
    for ln in normalise.lines(text):
        assert ln and ln == ln.strip() and "\n" not in ln and "\r" not in ln and "\t" not in ln


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=8),
       st.integers(min_value=1, max_value=4))
def test_extra_spacing_and_blank_lines_never_matter(words, spaces):
    text = " ".join(words)
    spaced = ("\n\n" + (" " * spaces).join(text.split(" ")) + "   \n")
    assert normalise.lines(spaced) == normalise.lines(text)
