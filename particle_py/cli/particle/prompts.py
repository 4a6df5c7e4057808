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



def usb_chooser():
    """The numbered choice between several USB devices, on a terminal; None elsewhere."""
    return choose_usb_device if sys.stdin.isatty() and sys.stderr.isatty() else None


def usb_device_line(entry) -> str:
    """A device as particle-cli's chooser lists it: id, platform, mode."""
    kinds = [entry.platform.display_name] + (["DFU"] if entry.in_dfu else [])
    return f"[{entry.device_id or 'no id'}] ({', '.join(kinds)})"


def choose_usb_device(entries: list):
    """Ask which of several USB devices the user meant (stderr: stdout holds the answer)."""
    import typer

    typer.echo("Which device would you like to select?", err=True)
    for number, entry in enumerate(entries, 1):
        typer.echo(f"  {number}) {usb_device_line(entry)}", err=True)
    while True:
        # read here, not by typer.prompt: its input(" ") puts a space on stdout, which holds the answer
        typer.echo("Device number: ", err=True, nl=False)
        line = sys.stdin.readline()
        if not line:
            raise typer.Abort()
        answer = line.strip()
        if answer.isdigit() and 1 <= int(answer) <= len(entries):
            return entries[int(answer) - 1]
        typer.echo(f"Type a number from 1 to {len(entries)}.", err=True)
