"""`particle flash --usb <file|app> [more files...] [--factory] [--force] [--verify/--no-verify]`, and
`particle flash --local [device] <files...> [--target <version>] [--application-only]`."""
from __future__ import annotations

import os
from typing import List, Optional

import typer  # the command's typer.Context annotation is resolved in these globals

from particle_py.cli import render


class FlashReporter(render.TextReporter):
    """flash's text: the one renderer, plus the "Flashing <file>" lines seen (``started``), after
    which a failure says "Flash failed."."""

    def __init__(self, *, verbose: bool):
        super().__init__(verbose=verbose)
        self.started: list[str] = []

    def is_start(self, line: str) -> bool:
        return line.startswith("Flashing ") and " device " not in line

    def on_step(self, text: str) -> None:
        if self.is_start(text):
            self.started.append(text)


FIRST_FLASH_NOTICE = """:::: NOTICE:
:::: Your first flash may take up to 10m to complete - during
:::: this time, your device may regularly change LED states
:::: as Device OS upgrades are applied."""


def _first_flash_notice(echo) -> None:
    """particle-cli shows the notice once per profile and records when in its config."""
    import time

    from particle_py.cloud.config import Settings
    from particle_py.errors import ParticlePyError

    try:
        settings = Settings()
        if settings.values.get("flashWarningShownOn"):
            return
        echo(FIRST_FLASH_NOTICE)
        settings.update(flashWarningShownOn=int(time.time() * 1000))
    except (OSError, ValueError, ParticlePyError):
        pass                   # an unreadable or read-only config must not stop a flash


def register(app) -> None:
    import typer

    @app.command("flash", help="Send firmware to your device (over USB with --usb)")
    def flash(
        ctx: typer.Context,
        params: Optional[List[str]] = typer.Argument(None, metavar="[device|binary] [files...]",
                                                     help="Files or a known app name (tinker)"),
        usb: bool = typer.Option(False, "--usb", help="Flash over USB (DFU)"),
        factory: bool = typer.Option(False, "--factory",
                                     help="Flash user application to the factory reset location. "
                                          "Only available for USB flash"),
        force: bool = typer.Option(False, "--force",
                                   help="Flash even when the CRC or platform check fails "
                                        "(never into read-only memory)"),
        verify: Optional[bool] = typer.Option(None, "--verify/--no-verify",
                                              help="--verify reads back what was written; by default "
                                                   "a system or user part is proven by Device OS's own "
                                                   "check after the reset, else read back; --no-verify "
                                                   "checks nothing"),
        local: bool = typer.Option(False, "--local", help="Flash locally, updating Device OS as needed"),
        target: Optional[str] = typer.Option(None, "--target", metavar="<version>",
                                             help="With --local: update Device OS to this version first"),
        application_only: bool = typer.Option(False, "--application-only",
                                              help="Do not update Device OS when flashing locally"),
        every: bool = typer.Option(False, "--all", help="With --usb: every matching device attached (at once)"),
        platform: Optional[str] = typer.Option(None, "--platform",
                                               help="With --usb: only devices of this platform (photon, argon, ...)"),
        mode: Optional[str] = typer.Option(None, "--mode",
                                           help="With --usb: only devices in this mode: normal, dfu or listening"),
    ):
        from particle_py.errors import ParticlePyError
        from particle_py.ops import flash as flash_ops

        args = list(params or [])
        from particle_py.cli.particle import selection

        batch = selection.is_batch([], every, platform, mode)
        if local and not usb:
            if batch:
                raise ParticlePyError("--all, --platform and --mode go with --usb",
                                      "Flash the devices over USB at once: particle flash --usb --all app.bin; "
                                      "--local takes one device.", exit_code=64)
            return _flash_local(ctx, args, target, application_only)
        if target is not None or application_only:
            raise ParticlePyError("--target and --application-only go with --local",
                                  "Example: particle flash --local app.bin --target 6.3.4", exit_code=64)
        if not usb:
            raise ParticlePyError("particle-py flashes over USB only: add --usb",
                                  "Example: particle flash --usb firmware.bin", exit_code=64)
        devices, args = _leading_devices(args)
        _first_flash_notice(typer.echo)
        if len(devices) > 1 or batch:
            _flash_batch(ctx, devices, every, platform, mode, args, factory=factory, force=force, verify=verify)
            return
        device_id = devices[0] if devices else None

        reporter = FlashReporter(verbose=render.verbose(ctx))
        try:
            result = flash_ops.flash_usb(args, factory=factory, force=force, verify=verify, device_id=device_id,
                                         reporter=reporter)
            from particle_py.cli.runner import work_done

            work_done()         # flashed: a signal now cannot turn the outcome into 130
        except ParticlePyError:
            reporter.close()
            if reporter.started:
                typer.echo("Flash failed.")
            raise
        reporter.close()
        if result.cannot_run:
            # --force skips a check, never the truth: written as asked (exit 0), but it will not run
            typer.echo("Flash done (forced).")
            for note in result.cannot_run:
                typer.echo(f"Warning: {note}", err=True)
            typer.echo(f"Flash a module built for the {result.platform_name} to get it running.", err=True)
            return
        if result.will_not_run:
            # written as asked, but the device will not run it as meant: say what it does instead
            for line in result.will_not_run:
                typer.echo(line)
            return
        typer.echo("Flash success!")


def _leading_devices(args: list) -> tuple[list, list]:
    """"[device|binary] [files...]": the leading words that are neither a file nor a known app
    name are devices (ids or names, resolved), when files follow them."""
    import re

    from particle_py.firmware.known_apps import APP_NAMES
    from particle_py.ops.usb_commands import resolve

    devices = []
    while len(args) > 1 and not os.path.exists(args[0]) and args[0] not in APP_NAMES:
        if devices and not re.fullmatch(r"[\w-]+", args[0]):
            break       # device names have no "." or "/": a missing file, which flash then names
        devices.append(resolve(args[0]))
        args = args[1:]
    return devices, args


def _flash_batch(ctx, devices: list, every: bool, platform: Optional[str], mode: Optional[str], files: list, *,
                 factory: bool, force: bool, verify: Optional[bool]) -> None:
    """`particle flash --usb --all|--platform|--mode|<id> <id>... files`: the same files on every
    selected device at once, a line per device and the summary table (particle-cli has no such
    form: its flash takes one device)."""
    import shlex

    from particle_py.cli.particle import selection
    from particle_py.ops import flash as flash_ops

    names = " ".join(os.path.basename(f) for f in files)
    flags = " ".join(["--factory"] * factory + ["--force"] * force + [shlex.quote(f) for f in files])

    def work(entry, reporter) -> str:
        result = flash_ops.flash_usb(files, factory=factory, force=force, verify=verify, device_id=entry.device_id,
                                     reporter=reporter)
        # written as asked either way; what the device will do instead is the row's own words
        for note in (result.cannot_run or result.will_not_run)[:1]:
            return f"flashed {names}, but: {note}"
        return f"flashed {names}"
    selection.run_selected(ctx, devices, every, platform, mode, action="flash", single=None, work=work,
                           retry=lambda e: f"particle flash --usb {e.device_id} {flags}")


def _flash_local(ctx, args: list, target: Optional[str], application_only: bool) -> None:
    import typer

    from particle_py.errors import ParticlePyError
    from particle_py.ops import flash_local

    device_id = None
    # 3.51's reading of the arguments: a first one that is not a file is the device
    if args and not os.path.exists(args[0]):
        from particle_py.firmware.known_apps import APP_NAMES

        if args[0] not in APP_NAMES:
            from particle_py.ops.usb_commands import resolve

            device_id, args = resolve(args[0]), args[1:]
    if not args:
        raise ParticlePyError("particle-py flashes local files: name them",
                              "Example: particle flash --local app.bin (compiling a project is not in particle-py).",
                              exit_code=64)
    _first_flash_notice(typer.echo)
    reporter = FlashReporter(verbose=render.verbose(ctx))
    try:
        result = flash_local.flash_local(args, target=target, application_only=application_only,
                                         device_id=device_id, reporter=reporter)
        from particle_py.cli.runner import work_done

        work_done()
    except ParticlePyError:
        reporter.close()
        if reporter.started:
            typer.echo("Flash failed.")
        raise
    reporter.close()
    if result.flash.will_not_run:
        for line in result.flash.will_not_run:
            typer.echo(line)
        return
    typer.echo("Flash success!")

