"""`particle flash --usb <file|app> [more files...] [--factory] [--force] [--verify/--no-verify]`."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer  # the command's typer.Context annotation is resolved in these globals

from particle_py import events


class TextReporter(events.Reporter):
    """Renders flash's and update's events as they print: Steps on stdout, -v Details and
    Cautions on stderr, on a terminal a tqdm bar per module (the first Progress after a Step
    opens it). ``started``: the "Flashing <file>" lines, after which a failure says so."""

    def __init__(self, *, verbose: bool):
        self.verbose = verbose
        self.started: list[str] = []
        self._tty = sys.stderr.isatty()
        self._bars: list = []
        self._bar = None

    def is_start(self, line: str) -> bool:
        return line.startswith("Flashing ") and " device " not in line

    def render_result(self, event) -> None:
        pass

    def emit(self, event) -> None:
        import typer

        if isinstance(event, events.Step):
            self._bar = None
            if self.is_start(event.text):
                self.started.append(event.text)
            typer.echo(event.text)
        elif isinstance(event, events.Detail):
            if self.verbose:
                typer.echo(event.text, err=True)
        elif isinstance(event, events.Caution):
            typer.echo(event.text, err=True)
        elif isinstance(event, events.Progress):
            self._progress(event)
        elif isinstance(event, events.Result):
            self.render_result(event)

    def _progress(self, event) -> None:
        if not self._tty:
            return                  # nothing extra off a terminal (the lines say enough)
        if self._bar is None:
            import shutil

            from tqdm import tqdm

            # No monitor thread (the bar is refreshed by hand): with a second thread in the process,
            # the kernel may hand a Ctrl-C to it instead of the main thread, which holds signals
            # back while a USB transfer completes.
            tqdm.monitor_interval = 0
            # get_terminal_size falls back to 80 columns where the terminal reports none.
            self._bar = tqdm(total=event.total, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=event.task, leave=False, file=sys.stderr,
                             ncols=min(shutil.get_terminal_size().columns, 100))
            self._bars.append(self._bar)
            if event.done == 0:
                return              # the new bar shows 0 already
        self._bar.total = event.total
        self._bar.n = event.done
        self._bar.refresh()

    def close(self) -> None:
        for bar in self._bars:
            bar.close()


def verbose_run(ctx) -> bool:
    """Whether `particle -v` was given (the root command's flag)."""
    return bool(ctx.find_root().params.get("verbose"))


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
    ):
        from particle_py.errors import ParticlePyError
        from particle_py.ops import flash as flash_ops

        args = list(params or [])
        if not usb:
            raise ParticlePyError("particle-py flashes over USB only: add --usb",
                                  "Example: particle flash --usb firmware.bin", exit_code=64)
        device_id = None
        # "[device|binary] [files...]": a leading device id or name when files follow.
        if len(args) > 1:
            import os

            from particle_py.firmware.known_apps import APP_NAMES

            if not os.path.exists(args[0]) and args[0] not in APP_NAMES:
                from particle_py.ops.usb_commands import resolve

                device_id, args = resolve(args[0]), args[1:]

        _first_flash_notice(typer.echo)

        reporter = TextReporter(verbose=verbose_run(ctx))
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
        typer.echo("Flash success!")
