"""`particle device add <id>`: claim a device to the logged-in account."""
from __future__ import annotations

import typer

NOT_CONNECTED_HINT = (
    "The cloud can only claim a device that is connected (breathing cyan). If it blinks cyan with "
    "orange or red bursts, its keys do not match the cloud: run `particle keys server`, then "
    "`particle keys doctor <deviceID>`, reset the device and try again.")


def register(app) -> None:
    device_app = typer.Typer(name="device", help="Manage your devices", no_args_is_help=True)

    @device_app.command("add", help="Register a device with your user account with the cloud")
    def add(device_id: str = typer.Argument(..., metavar="<deviceID>")):
        from particle_py.cloud.api import client_from_config, not_logged_in
        from particle_py.cloud.config import Settings
        from particle_py.errors import ParticlePyError

        settings = Settings()
        if not settings.access_token:
            raise not_logged_in()
        device_id = device_id.lower()
        typer.echo(f"Claiming device {device_id}")
        try:
            client_from_config(settings).claim_device(device_id)
        except ParticlePyError as err:
            hint = err.hint
            status = getattr(err, "status", 0)
            if "belongs to someone else" in err.message:
                hint = "Ask its owner to release it (unclaim it) first."
            elif status == 400 or "not connected" in err.message or "offline" in err.message:
                hint = NOT_CONNECTED_HINT
            elif status == 404:
                hint = "Check the device ID (`particle identify` shows it)."
            raise ParticlePyError(f"Failed to claim device: {err.message}", hint, err.exit_code)
        typer.echo(f"Successfully claimed device {device_id}")

    app.add_typer(device_app, name="device")
