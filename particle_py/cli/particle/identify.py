"""`particle identify` (and `particle serial identify`): device id, IMEI/ICCID, Device OS version.

Asked over USB control requests when the device answers them (particle-cli 3.21+), else over
the serial port in listening mode (particle-cli up to 3.20).
"""
from __future__ import annotations

from typing import List, Optional

import typer  # the command's typer.Context annotation is resolved in these globals


def register(app) -> None:
    import typer

    from particle_py.cli.particle import selection

    every_opt, platform_opt, mode_opt = selection.options()

    @app.command("identify", help="Ask your device for its device ID and firmware version")
    def identify(ctx: typer.Context,
                 devices: Optional[List[str]] = typer.Argument(None, metavar="[device...]",
                                                               help="Device IDs (when several are connected)"),
                 port: Optional[str] = typer.Option(None, "--port", help="Use this serial port (a number from "
                                                    "`particle serial list`, or a path)"),
                 every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.errors import EX_USAGE, ParticlePyError
        from particle_py.ops.serial_ops import identify as do_identify

        ids = list(devices or [])
        if port is not None and selection.is_batch(ids, every, platform, mode):
            raise ParticlePyError("--port names one device's serial port",
                                  "Identify many devices over USB: particle identify --all", EX_USAGE)

        def work(entry, reporter) -> str:
            who = do_identify(entry.device_id, None)
            return ", ".join([f"Device OS {who.system_version or 'unknown'}"]
                             + [f"IMEI {who.imei}"] * bool(who.imei) + [f"ICCID {who.iccid}"] * bool(who.iccid))
        selection.run_selected(ctx, ids, every, platform, mode, action="identify",
                               single=lambda one: print_identity(one, port), work=work,
                               retry=lambda e: f"particle identify {e.device_id}")


def print_identity(device: Optional[str], port: Optional[str] = None) -> None:
    """particle-cli's identify lines. IMEI/ICCID that need listening mode are reported on stderr
    with how to get them; the id and version printed stand (exit 0)."""
    import typer
    from particle_py.cli.particle import prompts
    from particle_py.ops.serial_ops import identify as do_identify

    who = do_identify(device, port, choose=prompts.device_chooser())
    typer.echo(f"Your device id is {who.device_id}")
    if who.imei:
        typer.echo(f"Your IMEI is {who.imei}")
    if who.iccid:
        typer.echo(f"Your ICCID is {who.iccid}")
    if who.system_version:
        typer.echo(f"Your system firmware version is {who.system_version}")
    elif who.via == "serial":
        typer.echo("Unable to determine system firmware version")
    if who.missing is not None:
        from particle_py.errors import report
        report(who.missing)
