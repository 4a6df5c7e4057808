"""`particle identify`: the device id and system firmware version, over USB."""
from __future__ import annotations

from typing import Optional


def register(app) -> None:
    import typer

    @app.command("identify", help="Ask your device for its device ID and firmware version")
    def identify(device: Optional[str] = typer.Argument(None, help="Device ID (when several are connected)")):
        print_identity(device)


def print_identity(device: Optional[str]) -> None:
    """particle-cli's identify lines, from the device's answers over USB."""
    import typer
    from particle_py.ops.usb_commands import identify as do_identify

    who = do_identify(device)
    typer.echo(f"Your device id is {who.device_id}")
    typer.echo(f"Your system firmware version is {who.system_version}")
