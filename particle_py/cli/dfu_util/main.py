"""The ``dfu-util`` front end: dfu-util 0.8 / 0.9 / 0.10 / 0.11, byte for byte.

The flow follows dfu-util's main.c; the protocol work is ``particle_py.dfu``; every line
printed comes from the personality tables (``personality.py``) of the release chosen by
``PARTICLE_PY_DFU_UTIL_VERSION`` (default 0.11). stdout and stderr are written piece by
piece, in the order dfu-util writes them (its stdout is unbuffered).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Optional

from ...dfu import layout as layout_mod, protocol as p
from ...dfu.engine import Dfuse, DfuDevice, DfuError, dfu_download, dfu_upload, settle
from .personality import VERSIONS, personality
from .progress import ProgressBar


def _lazy(name: str):
    """The module, executed on first use: `dfu-util -V` and `-l` never need these (start-up)."""
    import importlib.util

    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)
    spec.loader.exec_module(module)
    return module


dfuse_file = _lazy("particle_py.dfu.dfuse_file")
dfuse_options = _lazy("particle_py.dfu.dfuse_options")
probe_mod = _lazy("particle_py.dfu.probe")
suffix_mod = _lazy("particle_py.dfu.suffix")

DEFAULT_VERSION = "0.11"
ENV_VERSION = "PARTICLE_PY_DFU_UTIL_VERSION"
ENV_SIM = "PARTICLE_PY_SIM"
ENV_HINTS = "PARTICLE_PY_DFU_UTIL_HINTS"
IMPOSSIBLE = 0x10000
LIBUSB_VERSION_FALLBACK = "1.0.26 (11724)"

# Progress bars dfu-util draws only without -v (the DfuSe element download); the rest always.
_QUIET_ONLY_SITES = {"erase_start", "erase_chunk", "erase_end", "dl_chunk", "dl_end"}


def banner(version: str) -> str:
    """dfu-util's 7-line banner; the bug-report line names this program instead."""
    from ... import __version__ as ours
    years = {"0.8": "2014", "0.9": "2016", "0.10": "2020", "0.11": "2021"}[version]
    return (f"dfu-util {version}\n\n"
            "Copyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
            f"Copyright 2010-{years} Tormod Volden and Stefan Schmidt\n"
            "This program is Free Software and has ABSOLUTELY NO WARRANTY\n"
            f"Please report bugs to particle-py {ours} (a Python re-implementation, not dfu-util)\n\n")


class _Exit(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class _Output:
    """Writes personality messages to the two streams, in order, flushing each piece."""

    def __init__(self, stdout, stderr, prog: str, pers, verbose: int, clock: Optional[Callable] = None):
        self.stdout, self.stderr = stdout, stderr
        self.short = prog.rsplit("/", 1)[-1] or prog
        self.pers = pers
        self.verbose = verbose
        self.bar = ProgressBar(self.out_raw, clock)

    def out_raw(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def err_raw(self, text: str) -> None:
        self.stderr.write(text)
        self.stderr.flush()

    def _write(self, stream: str, text: str) -> None:
        if stream == "out":
            self.out_raw(text + "\n")
        elif stream == "warn":
            self.err_raw(f"{self.short}: {text}\n")
        else:
            self.err_raw(text + "\n")

    def say(self, key: str, *args, **fields) -> None:
        entry = self.pers.messages.get(key)
        if entry is None:
            return
        stream, template = entry[0], entry[1]
        rest = entry[2:]
        if "+" in stream:                       # two parts on two streams (" failed!" + state line)
            first, second = stream.split("+")
            self._write(first, template.format(*args, **fields))
            self._write(second, rest[0].format(*args, **fields))
            return
        if rest and self.verbose < rest[0]:
            return
        self._write(stream, template.format(*args, **fields))

    def fail(self, key: str, *args, **fields) -> "_Exit":
        """Print a failure's lines; return the _Exit to raise."""
        for stream, template in self.pers.errors.get(key, []):
            self._write(stream, template.format(*args, **fields))
        return _Exit(self.pers.exits.get(key, 74))

    def progress(self, label: str, curr: int, maximum: int, site: str) -> None:
        if site in _QUIET_ONLY_SITES and self.verbose:
            return
        self.bar.update(label, curr, maximum)


def _status_fields(status: p.DfuStatus) -> dict:
    return dict(state=status.state, state_name=status.state_name, status=status.status,
                status_text=status.status_text)


@contextlib.contextmanager
def _sim_environment(environ):
    """Make the transport see ``environ``'s simulator choice while we run in-process."""
    if environ is os.environ:
        yield
        return
    before = os.environ.get(ENV_SIM)
    wanted = environ.get(ENV_SIM)
    try:
        if wanted is None:
            os.environ.pop(ENV_SIM, None)
        else:
            os.environ[ENV_SIM] = wanted
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_SIM, None)
        else:
            os.environ[ENV_SIM] = before


def _list_devices() -> list:
    from ...usb.lean import no_dfu_device
    if no_dfu_device():         # nothing dfu-util would list: spare the pyusb import (start-up time)
        return []
    from ... import usb as transport
    find = getattr(transport, "find_devices", None)
    if find is not None:
        return list(find())
    import usb.core
    return list(usb.core.find(find_all=True))


def _sleep_ms(ms: int) -> None:
    from ... import usb as transport
    sleeper = getattr(transport, "sleep_ms", None)
    if sleeper is not None:
        sleeper(ms)
    else:
        import time
        time.sleep(ms / 1000.0)


def _libusb_version() -> str:
    """libusb's version as dfu-util prints it ("1.0.26 (11724)")."""
    from ... import usb as transport
    getter = getattr(transport, "libusb_version", None)
    if getter is not None:
        try:
            return getter()
        except Exception:
            pass
    if os.environ.get(ENV_SIM):
        return LIBUSB_VERSION_FALLBACK
    try:
        import ctypes

        class _Version(ctypes.Structure):
            _fields_ = [("major", ctypes.c_uint16), ("minor", ctypes.c_uint16), ("micro", ctypes.c_uint16),
                        ("nano", ctypes.c_uint16), ("rc", ctypes.c_char_p), ("describe", ctypes.c_char_p)]
        func = transport.get_backend().lib.libusb_get_version
        func.restype, func.argtypes = ctypes.POINTER(_Version), []
        v = func().contents
        return "%d.%d.%d%s (%d)" % (v.major, v.minor, v.micro, (v.rc or b"").decode("ascii", "replace"), v.nano)
    except Exception:
        return LIBUSB_VERSION_FALLBACK


def main(argv: Optional[list] = None, *, stdout=None, stderr=None, environ=None, clock=None) -> int:
    """Run dfu-util with ``argv`` (argv[0] = program name); return the exit status.

    Through the common runner (cli/runner.py), with dfu-util's own endings: a signal or a closed
    stdout ends the console script by that signal, silently, as it ends the C program (after the
    device is closed and the simulator saved); in-process callers get 128 + signal."""
    from particle_py.cli import runner

    process = argv is None and stdout is None
    return runner.run(lambda: _main(argv, stdout=stdout, stderr=stderr, environ=environ, clock=clock),
                      prog="dfu-util", process=process, posix_signal_death=True, interrupted_line=None)


def _main(argv: Optional[list] = None, *, stdout=None, stderr=None, environ=None, clock=None) -> int:
    argv = list(_console_argv() if argv is None else argv)
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    environ = os.environ if environ is None else environ
    version = environ.get(ENV_VERSION, DEFAULT_VERSION)
    prog = argv[0] if argv else "dfu-util"
    if version not in VERSIONS:
        stderr.write(f"{prog.rsplit('/', 1)[-1]}: {ENV_VERSION}={version!r} is not one of "
                     f"{', '.join(VERSIONS)}\n")
        stderr.flush()
        return 64
    run = _Run(argv, prog, version, stdout, stderr, clock)
    with _sim_environment(environ):
        try:
            return run.execute()
        except _Exit as done:
            if _hints_wanted(environ, stderr):
                run.print_hint()
            return done.code
        finally:
            run.close()


def _console_argv() -> list:
    """sys.argv, with argv[0] as the user most likely typed it.

    A C program sees the name it was started by ("dfu-util" when found on PATH); a Python
    console script only sees its full path. getopt messages quote argv[0], so when the path is
    exactly what PATH gives for the bare name, the bare name is what was typed."""
    import shutil
    argv = list(sys.argv)
    if argv and os.path.isabs(argv[0]):
        name = os.path.basename(argv[0])
        found = shutil.which(name)
        if found and os.path.realpath(found) == os.path.realpath(argv[0]):
            argv[0] = name
    return argv


def running_particle_hint() -> Optional[str]:
    """When no DFU device was found but a Particle device is attached running its firmware:
    how to put it in DFU mode (the usual cause, from forum threads)."""
    try:
        from ...ops.discovery import list_devices, release_entry

        entries = list_devices()
    except Exception:             # advice only: a bus that cannot be listed gives none
        return None
    running = [e for e in entries if not e.in_dfu]
    for e in entries:
        release_entry(e)
    if not running:
        return None
    e = running[0]
    return (f"A Particle {e.platform.display_name} ({e.device_id}) is attached but running its firmware, not in "
            f"DFU mode: run `particle usb dfu{' ' + e.device_id if len(running) > 1 else ''}` (or hold MODE, "
            "press RESET, release MODE when the LED blinks yellow), then dfu-util again.")


def _hints_wanted(environ, stderr) -> bool:
    """Our own advice after a failure, beyond dfu-util's lines: only for a person at a terminal
    (scripts such as particle-cli parse dfu-util's exact output), or when asked for."""
    choice = environ.get(ENV_HINTS)
    if choice is not None:
        return choice not in ("", "0")
    try:
        return bool(stderr.isatty())
    except Exception:
        return False


def console() -> None:
    sys.exit(main())


class _Run:
    def __init__(self, argv, prog, version, stdout, stderr, clock):
        self.argv, self.prog, self.version = argv, prog, version
        self.stdout, self.stderr = stdout, stderr
        self.clock = clock
        self.pers = personality(version)
        self.opened: list = []
        self.out: Optional[_Output] = None
        self.usb_problem = None          # (libusb code, vid, pid) of the last open/claim failure
        self.no_device = False           # ended with "No DFU capable USB device available"

    # --- helpers --------------------------------------------------------------------------
    def close(self) -> None:
        for dev in self.opened:
            probe_mod.close_handle(dev)
        self.opened = []

    def engine_event(self, kind: str, **kw) -> None:
        out = self.out
        if kind == "progress":
            out.progress(kw["label"], kw["curr"], kw["max"], kw["site"])
        elif "status" in kw:
            out.say(kind, **_status_fields(kw["status"]))
        else:
            out.say(kind, **kw)

    def print_hint(self) -> None:
        if self.usb_problem is None and self.no_device and self.out is not None:
            hint = running_particle_hint()          # nothing failed to open: was it running?
            if hint:
                self.out.err_raw(hint + "\n")
            return
        if self.usb_problem is None or self.out is None:
            return
        from ...usb.hints import hint_for_error
        code, vid, pid = self.usb_problem
        hint = hint_for_error(code, vid, pid)
        if hint:
            self.out.err_raw(hint + "\n")

    def probe_event(self, kind: str, key: str, args: tuple) -> None:
        if key == "cannot_open":
            vid, pid, devnum, code = args
            self.usb_problem = (code, vid, pid)
            self.out.say("probe_cannot_open", vid=vid, pid=pid, devnum=devnum, error=p.libusb_error_name(code))
        else:
            self.out.say("probe_" + key, *args)

    def engine_failure(self, err: DfuError) -> _Exit:
        args = err.args_
        code = err.libusb_code if err.libusb_code is not None else (args[0] if args else None)
        name = p.libusb_error_name(code) if isinstance(code, int) else ""
        return self.out.fail(err.key, *args, name=name)

    # --- the flow -------------------------------------------------------------------------
    def execute(self) -> int:
        from .options import OptionError, check_mode, parse_args
        try:
            opts = parse_args(self.argv, self.version, prog=self.prog)
        except OptionError as err:
            self.stderr.write(err.stderr_text(self.version))
            self.stderr.flush()
            return err.exit_code
        self.opts = opts
        self.out = out = _Output(self.stdout, self.stderr, self.prog, self.pers, opts.verbose, self.clock)
        out.out_raw(banner(self.version))
        if opts.mode == "version":
            return 0
        if opts.verbose and self.pers.feature("libusb_version_line"):
            out.out_raw(f"libusb version {_libusb_version()}\n")
        try:
            opts = check_mode(opts, self.version)
        except OptionError as err:
            self.stderr.write(err.stderr_text(self.version))
            self.stderr.flush()
            return err.exit_code
        self.opts = opts
        self.match = probe_mod.Match(
            opts.vendor, opts.product, opts.vendor_dfu, opts.product_dfu, opts.devnum, opts.path, opts.cfg,
            opts.intf, opts.alt_index, opts.alt_name, opts.serial, opts.serial_dfu,
            alt_matches_index=self.pers.feature("alt_matches_index"),
            utf8_strings=self.pers.feature("utf8_strings"), lpc_dfu_mode=self.pers.feature("lpc_dfu_mode"),
            jabra_dfu_mode=self.pers.feature("jabra_dfu_mode"))
        self.file = None
        if opts.mode == "download" and opts.file_name is not None:
            self.file = self.load_file(opts.file_name)
        if opts.wait:
            out.say("waiting")
        found = self.probe()
        if opts.mode == "list":
            for entry in found:
                out.say("list_entry", kind="DFU" if entry.dfu_mode else "Runtime", vid=entry.vendor,
                        pid=entry.product, bcd=entry.bcd_device, devnum=entry.devnum, cfg=entry.configuration,
                        intf=entry.interface, path=entry.path, alt=entry.altsetting, name=entry.alt_name,
                        serial=entry.serial_name)
            return 0
        while not found:
            if not opts.wait:
                self.no_device = True
                raise out.fail("no_device")
            _sleep_ms(20)
            found = self.probe()
        if (self.file is not None and self.file.is_dfuse and self.pers.feature("multi_alt_dfuse_file")
                and all(f.same_interface(found[0]) for f in found)):
            out.say("multiple_alt_dfuse")
        elif len(found) > 1:
            raise out.fail("more_than_one")
        self.found = found
        root = found[0]
        out.say("opening")
        code = probe_mod.open_handle(root.device)
        if code:
            self.usb_problem = (code, root.vendor, root.product)
            raise out.fail("cannot_open_device", error=p.libusb_error_name(code))
        self.opened.append(root.device)
        out.say("device_id", vid=root.vendor, pid=root.product)
        out.say("dfu_version_runtime" if root.interface > 0 else "dfu_version_dfu",
                version=root.functional.dfu_version)
        attrs = root.functional.attributes
        out.say("attributes", attributes=attrs,
                names="".join(" " + name for bit, name in p.ATTRIBUTE_NAMES if attrs & bit))
        out.say("detach_timeout", ms=root.functional.detach_timeout)
        if root.dfu_mode:
            self.runtime_ids = (self.match.vendor if self.match.vendor >= 0 else root.vendor,
                                self.match.product if self.match.product >= 0 else root.product)
        else:
            root = self.leave_runtime(root)
            if root is None:
                return 0
        return self.dfu_mode(root)

    def probe(self) -> list:
        from ...errors import ParticlePyError
        try:
            devices = _list_devices()
        except ParticlePyError as err:     # no usable libusb: dfu-util's libusb_init failure
            done = self.out.fail("libusb_init", message=err.message)
            if err.hint:
                self.out.err_raw(err.hint + "\n")
            raise done
        return probe_mod.probe(devices, self.match, self.probe_event)

    def load_file(self, name: str):
        out = self.out
        if name == "-":
            data = sys.stdin.buffer.read()
            out.say("stdin_read", size=len(data))
        else:
            from ...firmware.classify import DFU_UTIL_FILE_MAX, InputFileError, read_input_file

            try:    # a regular file of bounded size: a FIFO or /dev/zero must not hang or exhaust memory
                data = read_input_file(name, DFU_UTIL_FILE_MAX)
            except InputFileError as exc:
                raise out.fail("cannot_read_file", name=name, reason=exc.reason)
        try:
            loaded = suffix_mod.load(data)
        except suffix_mod.SuffixError as exc:
            raise out.fail(exc.key, value=exc.value)
        if loaded.has_suffix:
            out.say("suffix_version", version=loaded.bcd_dfu)
        else:           # stdin too: dfu-util only warns about a missing suffix
            out.say("suffix_missing", reason=loaded.missing_reason)
            out.say("suffix_future")
        if self.match.vendor < 0 and loaded.vendor != suffix_mod.ANY_ID:
            self.match.vendor = loaded.vendor
            out.say("match_vendor", vid=loaded.vendor)
        if self.match.product < 0 and loaded.product != suffix_mod.ANY_ID:
            self.match.product = loaded.product
            out.say("match_product", pid=loaded.product)
        return loaded

    def leave_runtime(self, root):
        """Detach a run-time interface and find the device again in DFU mode (None: -e done)."""
        out, opts = self.out, self.opts
        self.runtime_ids = (root.vendor, root.product)
        dfu = DfuDevice(root.device, root.interface, sleep_ms=_sleep_ms, quirks=root.quirks)
        out.say("claiming_runtime")
        code = dfu.claim()
        if code:
            raise out.fail("cannot_claim_runtime", intf=root.interface, error=p.libusb_error_name(code))
        if root.interface > 0 or root.multiple_alt:
            out.say("set_alt_zero")
            code = dfu.set_alt(0)
            if code:
                raise out.fail("cannot_set_alt_zero", error=p.libusb_error_name(code))
        out.say("runtime_determining")
        try:
            status = dfu.get_status()
            out.say("runtime_status", **_status_fields(status))
        except Exception as exc:
            code = p.libusb_code(exc)
            if code != p.LIBUSB_ERROR_PIPE:
                raise out.fail("runtime_get_status", error=p.libusb_error_name(code))
            out.say("no_get_status")
            status = p.DfuStatus(0, 0, p.APP_IDLE, 0)
        dfu.sleep_ms(status.poll_timeout)
        if status.state in (p.APP_IDLE, p.APP_DETACH):
            out.say("really_runtime")
            try:
                dfu.detach(1000)
            except Exception:
                out.say("error_detaching")
            if root.functional.attributes & p.ATTR_WILL_DETACH:
                out.say("will_detach")
            else:
                out.say("resetting_usb")
                code = dfu.reset()
                if code < 0 and code != p.LIBUSB_ERROR_NOT_FOUND:
                    raise out.fail("reset_after_detach", error=p.libusb_error_name(code))
        else:
            if status.state == p.DFU_ERROR:
                out.say("runtime_dfuerror")
                try:
                    dfu.clear_status()
                except Exception:
                    raise out.fail("clear_status")
            out.say("already_dfu", **_status_fields(status))
            dfu.release()
            return root
        dfu.release()
        self.close()
        if opts.mode == "detach":
            return None
        _sleep_ms(opts.detach_delay * 1000)
        self.match.vendor = self.match.product = IMPOSSIBLE
        found = self.probe()
        if not found:
            raise out.fail("lost_device")
        if len(found) > 1:
            raise out.fail("more_than_one_after_detach")
        self.found = found
        root = found[0]
        out.say("opening_dfu")
        if probe_mod.open_handle(root.device):
            raise out.fail("cannot_open_dfu_device")
        self.opened.append(root.device)
        return root

    def dfu_mode(self, root) -> int:
        out, opts = self.out, self.opts
        dfu = DfuDevice(root.device, root.interface, sleep_ms=_sleep_ms, quirks=root.quirks)
        self.dfu, self.root = dfu, root
        out.say("claiming")
        code = dfu.claim()
        if code:
            self.usb_problem = (code, root.vendor, root.product)
            raise out.fail("cannot_claim", error=p.libusb_error_name(code))
        out.say("set_alt", alt=root.altsetting)
        code = dfu.set_alt(root.altsetting)
        if code:
            raise out.fail("cannot_set_alt", error=p.libusb_error_name(code))
        try:
            settle(dfu, self.engine_event)
        except DfuError as err:
            raise self.engine_failure(err)
        func = root.functional
        out.say("dfu_mode_version", version=func.dfu_version)
        dfuse_device = func.dfu_version == p.DFUSE_VERSION
        if not dfuse_device and opts.dfuse_address is not None:
            out.say("dfuse_on_plain")
        transfer_size = opts.transfer_size
        if transfer_size and self.pers.feature("t_skips_descriptor"):
            pass      # 0.8/0.9: with -t the descriptor is not consulted
        elif func.transfer_size:
            out.say("transfer_size", size=func.transfer_size)
            if not transfer_size:
                transfer_size = func.transfer_size
            else:
                out.say("transfer_override")
        elif not transfer_size:
            raise out.fail("transfer_size_required")
        if transfer_size > 4096:
            transfer_size = 4096
            out.say("transfer_limited", size=transfer_size)
        if transfer_size < root.max_packet_size0:
            transfer_size = root.max_packet_size0
            out.say("transfer_adjusted", size=transfer_size)
        self.transfer_size = transfer_size
        use_dfuse = dfuse_device or opts.dfuse_address is not None
        if opts.mode == "upload":
            ret = self.upload(use_dfuse)
        elif opts.mode == "download":
            ret = self.download(use_dfuse or (self.file is not None and self.file.is_dfuse))
        elif opts.mode == "detach":
            try:
                dfu.detach(1000)
            except Exception:
                out.say("cant_detach")
            ret = 0
        else:
            raise out.fail("software", f"Unsupported mode: {opts.mode}")
        if ret == 0 and opts.reset:
            ret = self.final_reset()
        return ret

    def final_reset(self) -> int:
        out = self.out
        try:
            self.dfu.detach(1000)
        except Exception:
            out.say("cant_detach")
        out.say("final_reset")
        code = self.dfu.reset()
        if code < 0 and code != p.LIBUSB_ERROR_NOT_FOUND:
            out.say("final_reset_failed", error=p.libusb_error_name(code))
            return 74
        if code == p.LIBUSB_ERROR_NOT_FOUND and self.version == "0.11":
            return code & 0xFF      # 0.11 returns libusb's -5 as its exit status (251)
        return 0

    # --- DfuSe helpers ----------------------------------------------------------------------
    def parse_dfuse(self):
        text = self.opts.dfuse_address
        if text is None:
            return dfuse_options.DfuseOptions()
        try:
            return dfuse_options.parse(text, modifiers=self.pers.dfuse_modifiers,
                                       zero_is_absent=self.pers.feature("zero_address_absent"))
        except dfuse_options.DfuseOptionError as err:
            raise self.out.fail(err.key, rest=err.rest)

    def parse_layout(self, entry, failure: str):
        layout = layout_mod.parse(entry.alt_name)
        for kind, value in layout.notes:
            if kind == "name":
                self.out.say("dfuse_name", name=value)
            elif kind == "warning":
                self.out.say("layout_warning", text=value)
            else:
                self.out.say("segment", line=value.verbose_line())
        if not layout.valid:
            raise self.out.fail(failure, alt=entry.altsetting)
        return layout

    def new_dfuse(self, layout, dopts) -> Dfuse:
        return Dfuse(self.dfu, self.transfer_size, layout, emit=self.engine_event, behaviour=self.pers.behaviour,
                     force=dopts.force, mass_erase=False, will_reset=dopts.will_reset)

    # --- upload -----------------------------------------------------------------------------
    def upload(self, use_dfuse: bool) -> int:
        out, opts = self.out, self.opts
        name = opts.file_name
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_TRUNC | getattr(os, "O_BINARY", 0),
                         0o666)
        except OSError as exc:
            raise out.fail("cannot_write_file", name=name, reason=exc.strerror or str(exc))
        with os.fdopen(fd, "wb") as sink:
            def write(chunk: bytes) -> None:
                sink.write(chunk)
            if use_dfuse:
                return self.dfuse_upload(write)
            return self.plain_upload(write)

    def dfuse_upload(self, write) -> int:
        dopts = self.parse_dfuse()
        layout = None
        if dopts.address is not None:
            layout = self.parse_layout(self.root, "layout_upload")
        dfuse = self.new_dfuse(layout, dopts)
        try:
            dfuse.upload(write, dopts.address, dopts.length)
            if dopts.leave:
                dfuse.leave(dopts.address)
        except DfuError as err:
            raise self.engine_failure(err)
        return 0

    def plain_upload(self, write) -> int:
        """dfuload_do_upload and what main() makes of its result (dfu_load.c, main.c)."""
        out, opts, pers = self.out, self.opts, self.pers
        expected = opts.upload_size
        out.say("copying_from_device")
        result = dfu_upload(self.dfu, write, self.transfer_size, expected, emit=self.engine_event)
        total = result.total
        if result.error is not None:
            out.say("upload_error", error=p.libusb_error_name(result.error))
        if result.error is None or pers.feature("upload_end_bar_full"):
            out.progress("Upload", total, total, "dfu_ul_end")
        else:                   # 0.10+: the bar stays where the error left it, then a newline
            out.progress("Upload", total, expected, "dfu_ul_end")
            out.out_raw("\n")
        if total == 0:
            out.say("upload_failed")
        if total != 0 or pers.feature("upload_total_after_failed"):
            out.say("received_total", total=total)
        if expected and total != expected:
            if pers.feature("upload_size_check_fatal"):
                raise out.fail("upload_size_mismatch")
            out.say("unexpected_upload_size")
        if result.error is not None:
            raise _Exit(pers.exits["dfu_upload"])
        return 0

    # --- download ---------------------------------------------------------------------------
    def download(self, use_dfuse: bool) -> int:
        out = self.out
        f = self.file
        if f is not None:
            rv, rp = self.runtime_ids
            dv, dp = self.root.vendor, self.root.product
            any_id = suffix_mod.ANY_ID

            def differs(a, b):
                return (f.vendor != any_id and f.vendor != a) or (f.product != any_id and f.product != b)
            if differs(rv, rp) and differs(dv, dp):
                raise out.fail("file_id_mismatch", fv=f.vendor, fp=f.product, rv=rv, rp=rp, dv=dv, dp=dp)
        if use_dfuse:
            return self.dfuse_download()
        return self.plain_download()

    def plain_download(self) -> int:
        """dfuload_do_dnload and what main() makes of its result (dfu_load.c, main.c): 0.11
        returns the last libusb result (negative: EX_IOERR); 0.8-0.10 return the bytes sent, so
        main() goes on (to -R) with status 0 after any failure that is not an errx."""
        out, pers = self.out, self.pers
        returns_result = pers.feature("manifest_reset_code_fails")
        out.say("copying_to_device")
        try:
            status = dfu_download(self.dfu, self.file.without_suffix, self.transfer_size, emit=self.engine_event)
        except DfuError as err:
            failure = self.engine_failure(err)
            if failure.code:
                raise failure
            return 0
        if status is None:          # the status after the completion packet was unreadable
            if returns_result:
                raise _Exit(74)
            return 0
        ret = 0
        if status.state == p.DFU_MANIFEST_WAIT_RESET and pers.feature("reset_after_manifest"):
            code = self.dfu.reset()
            if code < 0 and code != p.LIBUSB_ERROR_NOT_FOUND:
                out.say("reset_after_download_failed", error=p.libusb_error_name(code))
            if code < 0 and returns_result:
                ret = 74       # 0.11 returns the reset's result, so even NOT_FOUND ends in EX_IOERR
        out.say("done")
        return ret

    def dfuse_download(self) -> int:
        out, f = self.out, self.file
        dopts = self.parse_dfuse()
        layouts = {}
        multi = self.pers.feature("multi_alt_dfuse_file")
        failure = "layout_download" if multi else "layout_upload"
        for entry in (self.found if multi else [self.root]):
            if entry.same_interface(self.root):
                layouts[entry.altsetting] = self.parse_layout(entry, failure)
        dfuse = self.new_dfuse(layouts[self.root.altsetting], dopts)
        self.first_element_address = None
        try:
            if dopts.unprotect:
                if not dopts.force:
                    raise out.fail("unprotect_needs_force")
                dfuse.unprotect()
                out.say("unprotect")
                return 0
            if dopts.mass_erase:
                if not dopts.force:
                    raise out.fail("mass_erase_needs_force")
                out.say("mass_erase")
                dfuse.mass_erase()
            if f is None:
                out.say("command_mode")
            elif dopts.address is not None:
                if f.is_dfuse:
                    raise out.fail("dfuse_file_raw")
                data = f.payload
                out.say("downloading_element", address=dopts.address, size=len(data))
                dfuse.download_element(dopts.address, data)
                out.say("file_downloaded")
            else:
                if not f.is_dfuse:
                    raise out.fail("not_dfuse_file")
                self.dfuse_file_download(dfuse, layouts)
            if not dopts.will_reset:
                dfuse.abort_to_idle()
            if dopts.leave:
                leave_at = dopts.address
                if leave_at is None and self.pers.behaviour.leave_always_sets_address:
                    leave_at = self.first_element_address      # 0.8/0.9 jump to the .dfu's first element
                dfuse.leave(leave_at)
        except DfuError as err:
            raise self.engine_failure(err)
        return 0

    def dfuse_file_download(self, dfuse: Dfuse, layouts: dict) -> None:
        out = self.out
        multi = self.pers.feature("multi_alt_dfuse_file")
        target_ok = False
        try:
            for item in dfuse_file.iter_file(self.file.payload):
                if isinstance(item, dfuse_file.ImageCount):
                    out.say("dfuse_images", count=item.count)
                    out.say("dfuse_notice")
                elif isinstance(item, dfuse_file.Target):
                    out.say("dfuse_image", index=item.index)
                    out.say("target_name" if item.named else "no_target_name", name=item.name)
                    out.say("image_alt", alt=item.alt, count=item.element_count, size=item.size)
                    if multi:
                        target_ok = item.alt in layouts
                        if target_ok:
                            out.say("image_set_alt", alt=item.alt)
                            code = self.dfu.set_alt(item.alt)
                            if code:
                                raise out.fail("cannot_set_alt", error=p.libusb_error_name(code))
                            dfuse.layout = layouts[item.alt]
                        else:
                            out.say("image_no_alt", alt=item.alt)
                    else:
                        target_ok = item.alt == self.root.altsetting
                        if not target_ok:
                            out.say("image_alt_mismatch")
                elif isinstance(item, dfuse_file.Element):
                    out.say("dfuse_element", index=item.index, address=item.address, size=item.size)
                    if self.first_element_address is None:
                        self.first_element_address = item.address
                    if target_ok and item.data is not None:
                        dfuse.download_element(item.address, item.data)
                elif isinstance(item, dfuse_file.Leftover):
                    out.say("leftover", count=item.count)
        except dfuse_file.DfuseFileError as err:
            raise out.fail(err.key, *err.args_)
        out.say("dfuse_done")


if __name__ == "__main__":
    console()
