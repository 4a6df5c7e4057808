"""`particle flash --usb <file|app> [more files...] [--factory] [--force] [--verify/--no-verify]`."""
from __future__ import annotations

import sys
from typing import List, Optional

def _progress_factory():
    """A tqdm bar per module on a terminal; nothing extra otherwise (the lines say enough)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    bars = []

    def factory(step):
        import shutil

        from tqdm import tqdm

        # No monitor thread (the bar is refreshed by hand): with a second thread in the process,
        # the kernel may hand a Ctrl-C to it instead of the main thread, which holds signals
        # back while a USB transfer completes.
        tqdm.monitor_interval = 0
        # get_terminal_size falls back to 80 columns where the terminal reports none.
        bar = tqdm(total=len(step.data), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=step.source.basename, leave=False, file=sys.stderr,
                   ncols=min(shutil.get_terminal_size().columns, 100))
        bars.append(bar)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()
        return progress

    def close_all():
        for bar in bars:
            bar.close()
    return factory, close_all


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

        def emit(line: str) -> None:
            typer.echo(line)

        _first_flash_notice(emit)

        factory_cb, close_bars = _progress_factory()
        started = []
        try:
            def on_event(line):
                if line.startswith("Flashing ") and " device " not in line:
                    started.append(line)
                emit(line)
            result = flash_ops.flash_usb(args, factory=factory, force=force, verify=verify, device_id=device_id,
                                         on_event=on_event, progress_factory=factory_cb)
        except ParticlePyError:
            close_bars()
            if started:
                typer.echo("Flash failed.")
            raise
        close_bars()
        if result.cannot_run:
            # --force skips a check, never the truth: written as asked (exit 0), but it will not run
            typer.echo("Flash done (forced).")
            for note in result.cannot_run:
                typer.echo(f"Warning: {note}", err=True)
            typer.echo(f"Flash a module built for the {result.platform_name} to get it running.", err=True)
            return
        typer.echo("Flash success!")
