"""`particle serial identify`: forum threads type it; particle-py answers it over USB.

particle-cli finds the device on a serial port, then reads the firmware version over USB
anyway. particle-py reads both over USB control requests, so no serial port (or driver)
is needed; ``--port`` is accepted for old instructions and ignored.
"""
from __future__ import annotations

from typing import Optional


def register(app) -> None:
    import typer

    serial_app = typer.Typer(help="Simple serial interface to your devices", no_args_is_help=True)

    @serial_app.command("identify", help="Ask for and display device ID")
    def identify(device: Optional[str] = typer.Argument(None, help="Device ID (when several are connected)"),
                 port: Optional[str] = typer.Option(None, "--port", help="Accepted for old instructions: "
                                                    "particle-py asks over USB, not a serial port.")):
        from particle_py.cli.particle.identify import print_identity
        print_identity(device)

    app.add_typer(serial_app, name="serial")
