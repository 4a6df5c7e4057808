"""`particle usb list|dfu|reset|start-listening|configure`."""
from __future__ import annotations

from typing import Optional


def listed_line(row) -> str:
    """One device of `particle usb list`, as particle-cli prints it."""
    kinds = [row.display_name]
    if row.in_dfu:
        kinds.append("DFU")
    if row.mode not in ("NORMAL", "UNKNOWN", "DFU"):
        kinds.append(row.mode)
    return f"{row.name} [{row.device_id}] ({', '.join(kinds)})"


def register(app) -> None:
    import typer

    usb_app = typer.Typer(name="usb", help="Control USB devices", no_args_is_help=True)

    @usb_app.command("list", help="List the devices connected to the host computer")
    def list_(filter: Optional[str] = typer.Argument(None, help="Platform name or device id"),
              exclude_dfu: bool = typer.Option(False, "--exclude-dfu", help="Do not list devices in DFU mode"),
              ids_only: bool = typer.Option(False, "--ids-only", help="Print only device IDs")):
        from particle_py.ops.usb_commands import list_usb

        rows = list_usb(filter, exclude_dfu=exclude_dfu, ids_only=ids_only)
        if ids_only:
            for row in rows:
                typer.echo(row.device_id)
            return
        if not rows:
            typer.echo("No devices found.")
        for row in rows:
            typer.echo(listed_line(row))

    @usb_app.command("dfu", help="Put a device into the DFU mode")
    def dfu(device: Optional[str] = typer.Argument(None, help="Device ID")):
        from particle_py.ops.usb_commands import enter_dfu

        enter_dfu(device)
        typer.echo("Done.")

    @usb_app.command("reset", help="Reset a device")
    def reset(device: Optional[str] = typer.Argument(None, help="Device ID")):
        from particle_py.ops.usb_commands import reset as do_reset

        do_reset(device)
        typer.echo("Done.")

    @usb_app.command("start-listening", help="Put a device into the listening mode")
    def start_listening(device: Optional[str] = typer.Argument(None, help="Device ID")):
        from particle_py.ops.usb_commands import start_listening as do_listen

        do_listen(device)
        typer.echo("Done.")

    @usb_app.command("configure", help="Update the system USB configuration (udev rules on Linux)")
    def configure():
        from particle_py.cli.render import TextReporter
        from particle_py.ops.host_setup import configure as do_configure

        do_configure(reporter=TextReporter())

    app.add_typer(usb_app, name="usb")
