"""``particle-sim``: simulated Particle devices and cloud, for tests, the demo, and for
learning the tools without hardware.

State lives in a folder (``--state`` or ``PARTICLE_PY_SIM``); every ``particle`` and
``dfu-util`` command run with the same ``PARTICLE_PY_SIM`` sees the same devices.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from particle_py.errors import ParticlePyError

app = typer.Typer(name="particle-sim", add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Simulated Particle devices and cloud (state in --state or $PARTICLE_PY_SIM). "
                       "The state folder holds device keys and the simulated cloud's private server keys: "
                       "keep it private, and never put a real device's keys in it.",
                  context_settings={"help_option_names": ["-h", "--help"]})

STATE_HELP = "State folder (default: $PARTICLE_PY_SIM); it holds device keys."
KEY_CHOICES = ("good", "corrupt", "missing", "pkcs8")
SERVER_KEY_CHOICES = ("cloud", "wrong", "missing")
CLOUD_KEY_CHOICES = ("registered", "other", "none")


def _state_dir(state: Optional[str], must_exist: bool = True) -> Path:
    folder = state or os.environ.get("PARTICLE_PY_SIM")
    if not folder:
        raise ParticlePyError("No simulator state folder given.",
                              "Pass --state DIR or set PARTICLE_PY_SIM=DIR (particle-sim create makes one).", 2)
    path = Path(folder)
    if must_exist and not (path / "state.json").exists():
        raise ParticlePyError(f"No simulated devices in {path}.", "Create one: particle-sim create photon", 2)
    return path


def _parse_faults(faults: List[str]) -> dict:
    knobs = {}
    for item in faults:
        name, sep, value = item.partition("=")
        if not sep:
            raise ParticlePyError(f"--fault {item!r}: expected KNOB=VALUE (e.g. FAKE_LEAVE_STATE=5)", exit_code=2)
        knobs[name] = value
    return knobs


@app.command()
def create(
    platforms: List[str] = typer.Argument(..., help="Platforms (photon, electron, argon, ...) or dfu-util "
                                                    "test profiles (stm32, dfu11, runtime)."),
    state: Optional[str] = typer.Option(None, "--state", help=STATE_HELP),
    mode: str = typer.Option("normal", "--mode", help="normal (running Device OS) or dfu (blinking yellow)."),
    device_id: Optional[str] = typer.Option(None, "--id", help="Device id (24 hex digits) of the first device."),
    key: str = typer.Option("good", "--key", help="Device key in the DCT: " + ", ".join(KEY_CHOICES) + "."),
    server_key: str = typer.Option("cloud", "--server-key", help="Server key in the DCT: "
                                   + ", ".join(SERVER_KEY_CHOICES) + "."),
    cloud_key: str = typer.Option("registered", "--cloud-key", help="What the cloud holds for the device: "
                                  + ", ".join(CLOUD_KEY_CHOICES) + "."),
    device_os: str = typer.Option("1.5.2", "--device-os", help="Device OS version, or 'none'."),
    user_app: str = typer.Option("tinker", "--app", help="User application: tinker (a stand-in) or none."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Cloud user that owns the device."),
    fault: List[str] = typer.Option([], "--fault", help="Fault knob KNOB=VALUE (repeatable)."),
):
    """Create simulated devices with chosen contents (replaces the folder's devices)."""
    from particle_py.sim import devices as simdev

    for value, choices, flag in ((key, KEY_CHOICES, "--key"), (server_key, SERVER_KEY_CHOICES, "--server-key"),
                                 (cloud_key, CLOUD_KEY_CHOICES, "--cloud-key"), (mode, ("normal", "dfu"), "--mode")):
        if value not in choices:
            raise ParticlePyError(f"{flag} {value!r}: expected one of {', '.join(choices)}", exit_code=2)
    folder = _state_dir(state, must_exist=False)
    recipe = simdev.Recipe(mode=mode, key=key, server_key=server_key, cloud_key=cloud_key,
                           device_os=None if device_os == "none" else device_os,
                           user_app=user_app != "none", owner=owner)
    created = simdev.create(folder, platforms, recipe, knobs=_parse_faults(fault), first_id=device_id)
    for line in created:
        typer.echo(line)
    typer.echo(f"State: {folder}   (use it: export PARTICLE_PY_SIM={folder})")


@app.command("list")
def list_devices(state: Optional[str] = typer.Option(None, "--state", help=STATE_HELP)):
    """List the simulated devices on the bus."""
    from particle_py.sim import devices as simdev
    for line in simdev.listing(_state_dir(state)):
        typer.echo(line)


@app.command()
def status(state: Optional[str] = typer.Option(None, "--state", help=STATE_HELP)):
    """Mode, LED, contents of each device, and why it is in that state."""
    from particle_py.sim import devices as simdev
    for line in simdev.status(_state_dir(state)):
        typer.echo(line)


@app.command()
def button(
    action: str = typer.Argument(..., help="reset (boot from what it holds), dfu (hold MODE, tap RESET, "
                                           "release at blinking yellow), listen (hold MODE 3 s)."),
    device: Optional[str] = typer.Option(None, "--device", help="Device id or bus path (default: the only one)."),
    state: Optional[str] = typer.Option(None, "--state", help=STATE_HELP),
):
    """Press the device's buttons."""
    from particle_py.sim import devices as simdev
    if action not in simdev.BUTTONS:
        raise ParticlePyError(f"Unknown button action {action!r}.", "Use one of: " + ", ".join(simdev.BUTTONS), 2)
    typer.echo(simdev.press(_state_dir(state), action, device))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def cloud(ctx: typer.Context):
    """Serve the simulated cloud on loopback (see: particle-sim cloud --help)."""
    from particle_py.sim import cloud as sim_cloud
    raise typer.Exit(sim_cloud.main(list(ctx.args)))


def main(argv: Optional[list] = None) -> int:
    from particle_py.errors import report
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="particle-sim", standalone_mode=False)
    except ParticlePyError as err:
        return report(err)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:
        import click
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
