"""dfu-util's command line, per version (0.8, 0.9, 0.10, 0.11): option tables, semantics, help.

Use (the dfu-util main flow)::

    try:
        opts = parse_args(argv, version, prog=argv[0], environ=environ)
    except OptionError as err:           # nothing else printed yet: no banner
        stderr.write(err.stderr_text(version)); return err.exit_code
    ... print the banner (and, 0.10+, the -v libusb line) ...
    if opts.mode == "version": return 0
    try:
        opts = check_mode(opts, version)  # "You need to specify one of -D or -U", after the banner
    except OptionError as err:
        stderr.write(err.stderr_text(version)); return err.exit_code
    if opts.command_mode: ...             # 0.10+: -s without -D/-U ("DfuSe command mode")

Facts come from /work/shared/reference/dfu-util.md sections 1 and 2.2 and the upstream main.c of
each release; numbers are converted exactly like C's atoi/strtol/strtoul on LP64 Linux and
stored the way the C int variables hold them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Union

from particle_py.errors import EX_OK, EX_SOFTWARE, EX_USAGE, ParticlePyError

from .getopt import NO_ARGUMENT, REQUIRED_ARGUMENT, GetoptLong, LongOption
from particle_py.cnum import c_atoi, c_strtol, c_strtoul, to_int32 as _to_int32

VERSIONS = ("0.8", "0.9", "0.10", "0.11")

# Match sentinels, as dfu-util's int variables hold them: negative = don't care,
# above 0xffff = an ID no device can have (`-d -:...`, `-d ,V:P`).
ANY = -1
IMPOSSIBLE = 0x10000

# ---------------------------------------------------------------------------------------
# Option tables (main.c `struct option opts[]` and the getopt_long short string)
# ---------------------------------------------------------------------------------------
_LONG_COMMON = (
    LongOption("help", NO_ARGUMENT, "h"),
    LongOption("version", NO_ARGUMENT, "V"),
    LongOption("verbose", NO_ARGUMENT, "v"),
    LongOption("list", NO_ARGUMENT, "l"),
    LongOption("detach", NO_ARGUMENT, "e"),
    LongOption("detach-delay", REQUIRED_ARGUMENT, "E"),
    LongOption("device", REQUIRED_ARGUMENT, "d"),
    LongOption("path", REQUIRED_ARGUMENT, "p"),
    LongOption("configuration", REQUIRED_ARGUMENT, "c"),
    LongOption("cfg", REQUIRED_ARGUMENT, "c"),
    LongOption("interface", REQUIRED_ARGUMENT, "i"),
    LongOption("intf", REQUIRED_ARGUMENT, "i"),
    LongOption("altsetting", REQUIRED_ARGUMENT, "a"),
    LongOption("alt", REQUIRED_ARGUMENT, "a"),
    LongOption("serial", REQUIRED_ARGUMENT, "S"),
    LongOption("transfer-size", REQUIRED_ARGUMENT, "t"),
    LongOption("upload", REQUIRED_ARGUMENT, "U"),
    LongOption("upload-size", REQUIRED_ARGUMENT, "Z"),
    LongOption("download", REQUIRED_ARGUMENT, "D"),
    LongOption("reset", NO_ARGUMENT, "R"),
    LongOption("dfuse-address", REQUIRED_ARGUMENT, "s"),
)
_LONG_010 = _LONG_COMMON + (
    LongOption("devnum", REQUIRED_ARGUMENT, "n"),
    # upstream bug kept on purpose: declared { "wait", 1, 0, 'w' }, so --wait takes an argument
    LongOption("wait", REQUIRED_ARGUMENT, "w"),
)
_SHORT_08 = "hVvleE:d:p:c:i:a:S:t:U:D:Rs:Z:"
_SHORT_010 = _SHORT_08 + "wn:"

# ---------------------------------------------------------------------------------------
# Help texts (stderr), byte-exact, real tabs
# ---------------------------------------------------------------------------------------
_HELP_HEAD = (
    "Usage: dfu-util [options] ...\n"
    "  -h --help\t\t\tPrint this help message\n"
    "  -V --version\t\t\tPrint the version number\n"
    "  -v --verbose\t\t\tPrint verbose debug statements\n"
    "  -l --list\t\t\tList currently attached DFU capable devices\n"
    "  -e --detach\t\t\tDetach currently attached DFU capable devices\n"
    "  -E --detach-delay seconds\tTime to wait before reopening a device after detach\n"
    "  -d --device <vendor>:<product>[,<vendor_dfu>:<product_dfu>]\n"
    "\t\t\t\tSpecify Vendor/Product ID(s) of DFU device\n"
)
_HELP_DEVNUM = "  -n --devnum <dnum>\t\tMatch given device number (devnum from --list)\n"
_HELP_MIDDLE = (
    "  -p --path <bus-port. ... .port>\tSpecify path to DFU device\n"
    "  -c --cfg <config_nr>\t\tSpecify the Configuration of DFU device\n"
    "  -i --intf <intf_nr>\t\tSpecify the DFU Interface number\n"
    "  -S --serial <serial_string>[,<serial_string_dfu>]\n"
    "\t\t\t\tSpecify Serial String of DFU device\n"
    "  -a --alt <alt>\t\tSpecify the Altsetting of the DFU Interface\n"
    "\t\t\t\tby name or by number\n"
    "  -t --transfer-size <size>\tSpecify the number of bytes per USB Transfer\n"
    "  -U --upload <file>\t\tRead firmware from device into <file>\n"
    "  -Z --upload-size <bytes>\tSpecify the expected upload size in bytes\n"
    "  -D --download <file>\t\tWrite firmware from <file> into device\n"
    "  -R --reset\t\t\tIssue USB Reset signalling once we're finished\n"
)
_HELP_WAIT = "  -w --wait\t\t\tWait for device to appear\n"
_HELP_S_08 = (
    "  -s --dfuse-address <address>\tST DfuSe mode, specify target address for\n"
    "\t\t\t\traw file download or upload. Not applicable for\n"
    "\t\t\t\tDfuSe file (.dfu) downloads\n"
)
_HELP_S_010 = (
    "  -s --dfuse-address address<:...>\tST DfuSe mode string, specifying target\n"
    "\t\t\t\taddress for raw file download or upload (not\n"
    "\t\t\t\tapplicable for DfuSe file (.dfu) downloads).\n"
    "\t\t\t\tAdd more DfuSe options separated with ':'\n"
    "\t\tleave\t\tLeave DFU mode (jump to application)\n"
    "\t\tmass-erase\tErase the whole device (requires \"force\")\n"
    "\t\tunprotect\tErase read protected device (requires \"force\")\n"
    "\t\twill-reset\tExpect device to reset (e.g. option bytes write)\n"
    "\t\tforce\t\tYou really know what you are doing!\n"
    "\t\t<length>\tLength of firmware to upload from device\n"
)
_HELP_08 = _HELP_HEAD + _HELP_MIDDLE + _HELP_S_08
_HELP_010 = _HELP_HEAD + _HELP_DEVNUM + _HELP_MIDDLE + _HELP_WAIT + _HELP_S_010


@dataclass(frozen=True)
class _VersionFacts:
    shortopts: str
    longopts: tuple
    help: str
    numbers_checked: bool          # parse_number (0.9+) instead of atoi
    number_error_exit: int
    help_exit: int                 # exit status of -h
    unexpected_args_error: bool    # 0.10+: leftover non-options are an error
    detach_selects_alt0: bool      # 0.8: -e also sets -i 0 -a 0
    usb_paths: bool                # 0.8 (as distributed) was built without libusbpath
    command_mode: bool             # 0.10+: -s alone = DfuSe command mode


_FACTS = {
    "0.8": _VersionFacts(_SHORT_08, _LONG_COMMON, _HELP_08, False, EX_SOFTWARE, EX_USAGE, False, True, False, False),
    "0.9": _VersionFacts(_SHORT_08, _LONG_COMMON, _HELP_08, True, EX_SOFTWARE, EX_USAGE, False, False, True, False),
    "0.10": _VersionFacts(_SHORT_010, _LONG_010, _HELP_010, True, EX_SOFTWARE, EX_USAGE, True, False, True, True),
    "0.11": _VersionFacts(_SHORT_010, _LONG_010, _HELP_010, True, EX_USAGE, EX_OK, True, False, True, True),
}


def _facts(version: str) -> _VersionFacts:
    try:
        return _FACTS[version]
    except KeyError:
        raise ValueError(f"unknown dfu-util version {version!r} (known: {', '.join(VERSIONS)})") from None


def help_text(version: str) -> str:
    """The exact help text dfu-util prints on stderr."""
    return _facts(version).help


# ---------------------------------------------------------------------------------------
# The error and the result
# ---------------------------------------------------------------------------------------
class OptionError(ParticlePyError):
    """dfu-util refusing its command line.

    ``lines``: complete stderr lines to print first (no newlines inside, may be empty
    strings); then the help text when ``show_help``; then exit with ``exit_code``.
    """

    def __init__(self, lines: list[str], exit_code: int, show_help: bool):
        super().__init__("\n".join(lines) if lines else "usage", None, exit_code)
        self.lines = list(lines)
        self.show_help = show_help

    def stderr_text(self, version: str) -> str:
        """Everything dfu-util writes to stderr for this error."""
        text = "".join(line + "\n" for line in self.lines)
        return text + (help_text(version) if self.show_help else "")


@dataclass
class Options:
    """The parsed command line; fields hold what dfu-util's C variables would hold."""

    mode: Optional[str] = None            # None, 'version', 'list', 'detach', 'upload', 'download'
    verbose: int = 0
    vendor: int = ANY                     # run-time mode IDs (ANY / IMPOSSIBLE / 0..0xffff)
    product: int = ANY
    vendor_dfu: int = ANY                 # DFU mode IDs
    product_dfu: int = ANY
    devnum: int = ANY                     # -n (0.10+); negative = any
    path: Optional[str] = None
    cfg: int = ANY                        # -c; 0 and negative = any
    intf: int = ANY                       # -i; negative = any
    alt_index: int = ANY                  # -a as a number; negative = any
    alt_name: Optional[str] = None        # -a as a name (exact iInterface string); stays set
                                          # even if a later -a is numeric, like upstream
    serial: Optional[str] = None          # run-time serial, None = any
    serial_dfu: Optional[str] = None
    transfer_size: int = 0                # unsigned int; 0 = use the device's wTransferSize
    file_name: Optional[str] = None       # the one file variable -U and -D both set
    upload_size: int = 0                  # -Z expected size, 0 = not given
    reset: bool = False
    wait: bool = False
    dfuse_address: Optional[str] = None   # raw -s text, parsed later by the DfuSe code
    detach_delay: int = 5
    leftover: list[str] = field(default_factory=list)
    command_mode: bool = False            # set by check_mode: -s without -D/-U (0.10+)

    @property
    def alt(self) -> Union[int, str, None]:
        """-a as the last one given: an int index, a name, or None (any)."""
        if self.alt_index >= 0:
            return self.alt_index
        return self.alt_name

    @property
    def upload_file(self) -> Optional[str]:
        return self.file_name if self.mode == "upload" else None

    @property
    def download_file(self) -> Optional[str]:
        return self.file_name if self.mode == "download" else None




def _c_string(arg: str) -> str:
    """What C sees of an argument: it ends at the first NUL."""
    return arg.split("\0", 1)[0]


# ---------------------------------------------------------------------------------------
# -d and -S
# ---------------------------------------------------------------------------------------
def _canonical_id(value: int) -> int:
    if value < 0:
        return ANY
    if value > 0xFFFF:
        return IMPOSSIBLE
    return value


def _match_value(text: Optional[str], default: int) -> int:
    if text is None:
        return default
    if text.startswith("*"):
        return ANY
    if text.startswith("-"):
        return IMPOSSIBLE
    value, end = c_strtoul(text, 16)
    if end == 0:
        return default
    return _canonical_id(_to_int32(value))


def parse_device_ids(text: str) -> tuple[int, int, int, int]:
    """`-d` (main.c parse_vendprod): (vendor, product, vendor_dfu, product_dfu)."""
    text = _c_string(text)
    vendor = product = vendor_dfu = product_dfu = ANY
    comma = text.find(",")
    if comma == 0:
        # only DFU-mode IDs given: no run-time device may match
        vendor = product = IMPOSSIBLE
    else:
        colon_at = text.find(":")
        colon: Optional[str] = None
        if colon_at >= 0 and not (comma >= 0 and colon_at + 1 > comma):
            colon = text[colon_at + 1:]
        vendor = _match_value(text, vendor)
        product = _match_value(colon, product)
        if comma >= 0:
            vendor_dfu, product_dfu = vendor, product
    if comma >= 0:
        rest = text[comma + 1:]
        colon_at = rest.find(":")
        dfu_colon = rest[colon_at + 1:] if colon_at >= 0 else None
        vendor_dfu = _match_value(rest, vendor_dfu)
        product_dfu = _match_value(dfu_colon, product_dfu)
    return vendor, product, vendor_dfu, product_dfu


def parse_serials(text: str) -> tuple[Optional[str], Optional[str]]:
    """`-S SERIAL[,SERIAL_DFU]`: one value serves both modes; an empty part means any."""
    text = _c_string(text)
    run_time, comma, dfu = text.partition(",")
    if not comma:
        dfu = run_time
    return (run_time or None), (dfu or None)


# ---------------------------------------------------------------------------------------
# parse_args / check_mode
# ---------------------------------------------------------------------------------------
_NUMBER_NAMES = {"E": "detach-delay", "c": "cfg", "i": "intf", "t": "transfer-size", "Z": "upload-size"}
_MODES = {"V": "version", "l": "list", "e": "detach", "U": "upload", "D": "download"}


def _short_prog(prog: str) -> str:
    # errx() prefixes program_invocation_short_name: argv[0] after the last '/'
    return prog.rsplit("/", 1)[-1]


def _number(facts: _VersionFacts, letter: str, arg: str, prog: str) -> int:
    if not facts.numbers_checked:
        return c_atoi(arg)
    name = _NUMBER_NAMES[letter]
    value, end, overflow = c_strtol(arg, 0)
    if overflow or end < len(arg):
        # the errx text itself ends in "\n", hence the empty line
        raise OptionError([f"{_short_prog(prog)}: Something went wrong with the argument of --{name}", ""],
                          facts.number_error_exit, show_help=False)
    if end == 0:  # only reachable with an empty argument (-t '' or --transfer-size=)
        raise OptionError([f"{_short_prog(prog)}: No digits were found from the argument of --{name}", ""],
                          facts.number_error_exit, show_help=False)
    return _to_int32(value)


def parse_args(argv: list[str], version: str, prog: str, environ: Optional[Mapping[str, str]] = None) -> Options:
    """Parse ``argv`` (argv[0] is the program name; ``prog`` is used in its place) the way dfu-util
    ``version`` does. ``environ``: the process environment, for glibc's POSIXLY_CORRECT (stop at
    the first non-option); None = not set.

    Raises OptionError for everything dfu-util rejects before printing its banner.
    """
    facts = _facts(version)
    opts = Options()
    posixly_correct = bool(environ) and "POSIXLY_CORRECT" in environ
    parser = GetoptLong([prog] + [_c_string(a) for a in argv[1:]], facts.shortopts, facts.longopts,
                        posixly_correct=posixly_correct)
    for item in parser:
        key, arg = item.key, item.optarg
        if key in ("?", ":"):
            lines = [item.error] if item.error else []
            raise OptionError(lines, EX_USAGE, show_help=True)
        if key == "h":
            raise OptionError([], facts.help_exit, show_help=True)
        if key in _MODES:
            opts.mode = _MODES[key]
            if key in "UD":
                opts.file_name = arg
            if key == "e" and facts.detach_selects_alt0:
                opts.intf = 0
                opts.alt_index = 0
        elif key == "v":
            opts.verbose += 1
        elif key == "d":
            opts.vendor, opts.product, opts.vendor_dfu, opts.product_dfu = parse_device_ids(arg)
        elif key == "n":
            opts.devnum = c_atoi(arg)
        elif key == "p":
            if not facts.usb_paths:
                raise OptionError([f"{_short_prog(prog)}: USB device paths are not supported by this dfu-util.",
                                   ""], EX_SOFTWARE, show_help=False)
            opts.path = arg
        elif key == "a":
            index, end = c_strtoul(arg, 0)
            if end < len(arg):
                opts.alt_name = arg
                opts.alt_index = ANY
            else:
                opts.alt_index = _to_int32(index)
        elif key == "S":
            opts.serial, opts.serial_dfu = parse_serials(arg)
        elif key == "E":
            opts.detach_delay = _number(facts, key, arg, prog)
        elif key == "c":
            opts.cfg = _number(facts, key, arg, prog)
        elif key == "i":
            opts.intf = _number(facts, key, arg, prog)
        elif key == "t":
            opts.transfer_size = _number(facts, key, arg, prog) & 0xFFFFFFFF
        elif key == "Z":
            opts.upload_size = _number(facts, key, arg, prog)
        elif key == "R":
            opts.reset = True
        elif key == "w":
            opts.wait = True
        elif key == "s":
            opts.dfuse_address = arg
    opts.leftover = list(parser.leftover)
    if opts.leftover and facts.unexpected_args_error:
        raise OptionError([f"Error: Unexpected argument: {opts.leftover[0]}", ""], EX_USAGE, show_help=True)
    if opts.cfg == 0:  # "-c 0" (unconfigured device) means don't care
        opts.cfg = ANY
    return opts


def check_mode(opts: Options, version: str) -> Options:
    """The no-mode rule, which dfu-util applies after printing its banner.

    Returns the options to go on with (``command_mode`` set for 0.10+ ``-s`` alone, with
    mode 'download' and no file), or raises OptionError("You need to specify one of -D or -U").
    """
    facts = _facts(version)
    if opts.mode is not None:
        return opts
    if facts.command_mode and opts.dfuse_address is not None:
        return replace(opts, mode="download", command_mode=True, file_name=None)
    raise OptionError(["You need to specify one of -D or -U"], EX_USAGE, show_help=True)
