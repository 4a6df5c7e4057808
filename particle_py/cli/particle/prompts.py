"""The questions the `particle` front end asks on a terminal; operations take them as callables
(``choose``) and get None where nobody can answer."""
from __future__ import annotations

import sys


def device_chooser():
    """The numbered choice between several devices, on a terminal; None where nobody can answer
    (then the operation's error lists them)."""
    return choose_device if sys.stdin.isatty() and sys.stderr.isatty() else None


def choose_device(devices: list):
    """Ask which of several serial devices the user meant (stderr: stdout holds the answer)."""
    import typer

    typer.echo("Which device did you mean?", err=True)
    for number, device in enumerate(devices, 1):
        typer.echo(f"  {number}) {device.line()}", err=True)
    while True:
        answer = typer.prompt("Device number", err=True).strip()
        if answer.isdigit() and 1 <= int(answer) <= len(devices):
            return devices[int(answer) - 1]
        typer.echo(f"Type a number from 1 to {len(devices)}.", err=True)

