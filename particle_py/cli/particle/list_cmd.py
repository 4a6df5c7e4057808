"""`particle list [filter]` and `particle cloud list [filter]`: the account's devices as
particle-cli 3.51 prints them (src/lib/ui logDeviceDetail)."""
from __future__ import annotations

from typing import Optional

import typer  # the command's typer.Context annotation is resolved in these globals

HELP = "Display a list of your devices, as well as their variables and functions"
FILTER_HELP = "online, offline, a platform name, a device ID or name"


def device_lines(devices) -> list[str]:
    from particle_py.platforms import by_id

    lines = []
    for d in devices:
        platform = by_id(d.product_id) if d.product_id is not None else None
        kind = platform.display_name if platform else f"Product {'null' if d.product_id is None else d.product_id}"
        name = d.name if d.name and d.name != "null" else "<no name>"
        lines.append(f"{name} [{d.device_id}] ({kind}) is {'online' if d.connected else 'offline'}")
        if d.variables:
            lines.append("  Variables:")
            lines.extend(f"    {key} ({vtype})" for key, vtype in d.variables.items())
        if d.functions:
            lines.append("  Functions:")
            lines.extend(f"    int {fn} (String args) " for fn in d.functions)
    return lines


def _list(ctx: typer.Context, filter: Optional[str] = typer.Argument(None, help=FILTER_HELP)):
    from particle_py.cli import render
    from particle_py.ops.cloud_devices import list_devices

    devices = list_devices(filter, reporter=render.TextReporter(verbose=render.verbose(ctx)))
    if devices is None:
        typer.echo("No devices found.")
        return
    # 3.51 writes the lines joined and one end of line: no devices left by the filter is an empty line
    typer.echo("\n".join(device_lines(devices)))


def register(app) -> None:
    app.command("list", help=HELP)(_list)
    cloud_app = typer.Typer(name="cloud", help="Access Particle cloud functionality", no_args_is_help=True)
    cloud_app.command("list", help=HELP)(_list)
    app.add_typer(cloud_app, name="cloud")
