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
                  rich_markup_mode=None,      # plain help and errors, as `particle` prints them
                  context_settings={"help_option_names": ["-h", "--help"]})


def _show_version(value: bool):
    if value:
        from particle_py import __version__
        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Show the version and exit.", is_eager=True,
                                        callback=_show_version)):
    pass

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
    if path.exists() and not path.is_dir():
        raise ParticlePyError(f"{path} is a file, not a simulator state folder.",
                              "Give a folder (particle-sim create photon --state DIR makes one) in --state or "
                              "PARTICLE_PY_SIM.", 2)
    if must_exist and not (path / "state.json").exists():
        raise ParticlePyError(f"No simulated devices in {path}.", "Create one: particle-sim create photon", 2)
    return path


def _device_os_arg(value: str, none_ok: bool = False) -> str:
    """A Device OS version the simulator can write into a module header (major*1000+minor*100+patch
    in 16 bits) and into a file name: digits and dots, an optional -rc.N style tag, nothing else."""
    import re

    from particle_py.sim.contents import module_version

    found = re.fullmatch(r"(\d{1,2})\.(\d)\.(\d{1,2})(-[0-9A-Za-z.]{1,20})?", value)
    if found is None or module_version(value) > 0xFFFF:
        raise ParticlePyError(f"--device-os {value!r}: not a Device OS version the simulator can model",
                              "Give major.minor.patch, such as 1.5.2, 2.3.1 or 5.0.0 (major up to 65, minor up to "
                              "9, patch up to 99, optionally with a tag such as -rc.1)"
                              + (", or 'none'." if none_ok else "."), 2)
    return value


def _folder_for_writing(path: Path, what: str) -> Path:
    """``path`` as a folder that exists (made when missing); our error when it cannot be one."""
    if path.exists() and not path.is_dir():
        raise ParticlePyError(f"{path} is not a folder: cannot write {what} there.",
                              "Give a folder with --dir (it is made when missing).", 2)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParticlePyError(f"Cannot make the folder {path} for {what}: {exc.strerror or exc}",
                              "Give a folder you can write to with --dir.", 73) from None
    return path


def _parse_faults(faults: List[str]) -> dict:
    knobs = {}
    for item in faults:
        name, sep, value = item.partition("=")
        if not sep:
            raise ParticlePyError(f"--fault {item!r}: expected KNOB=VALUE (e.g. FAKE_LEAVE_STATE=5)", exit_code=2)
        knobs[name] = value
    return knobs


def _check_protectable(names: List[str], device_os: str) -> None:
    """Device Protection exists on Device OS 6 of the platforms that offer it."""
    from particle_py import control_codes, platforms as table

    for name in names:
        platform = table.by_name(name)
        if platform is None or platform.platform_id not in control_codes.PROTECTION_PLATFORM_IDS:
            raise ParticlePyError(f"--protected: {name} has no Device Protection",
                                  "Device Protection is on argon, boron, bsom, b5som, tracker, trackerm, p2, msom "
                                  "and sulu.", 2)
    if device_os in ("default", "none") or int(device_os.split(".")[0]) < 6:
        raise ParticlePyError("--protected needs Device OS 6 or newer",
                              "Add --device-os 6.2.1 (or another 6.x release).", 2)


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
    device_os: str = typer.Option("default", "--device-os", help="Device OS version, or 'none' (default: "
                                  "1.5.2; 5.0.0 on P2, M-SoM and Tracker-M)."),
    user_app: str = typer.Option("tinker", "--app", help="User application: tinker (a stand-in) or none."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Cloud user that owns the device."),
    bootloader: Optional[str] = typer.Option(None, "--bootloader", help="Bootloader version (e.g. 2015 for a "
                                             "Photon of that era; see particle_py/sim/profiles.py BOOTLOADERS). "
                                             "Default: today's most common one."),
    fault: List[str] = typer.Option([], "--fault", help="Fault knob KNOB=VALUE (repeatable)."),
    protected: bool = typer.Option(False, "--protected", help="Protected Devices (Device Protection, Device OS "
                                   "6 on argon, boron, bsom, b5som, tracker, trackerm, p2, msom, sulu)."),
    service_mode: bool = typer.Option(False, "--service-mode", help="Protected Devices in Service Mode "
                                      "(20 restarts or 24 hours)."),
    count: int = typer.Option(1, "--count", min=1, max=127, help="Make that many of each device "
                              "(a classroom: --count 30)."),
    fault_on: List[str] = typer.Option([], "--fault-on", metavar="N:KNOB=VALUE", help="A fault knob of the "
                                       "N-th device only (from 1; repeatable), kept when it re-enumerates."),
    hub: Optional[int] = typer.Option(None, "--hub", min=1, max=15, help="Plug the devices in through hubs of "
                                      "that many ports (USB paths 1-1.1, 1-1.2, ...)."),
):
    """Create simulated devices with chosen contents (replaces the folder's devices)."""
    from particle_py.sim import devices as simdev

    for value, choices, flag in ((key, KEY_CHOICES, "--key"), (server_key, SERVER_KEY_CHOICES, "--server-key"),
                                 (cloud_key, CLOUD_KEY_CHOICES, "--cloud-key"), (mode, ("normal", "dfu"), "--mode")):
        if value not in choices:
            raise ParticlePyError(f"{flag} {value!r}: expected one of {', '.join(choices)}", exit_code=2)
    folder = _state_dir(state, must_exist=False)
    if device_os not in ("none", "default"):
        _device_os_arg(device_os, none_ok=True)
    recipe = simdev.Recipe(mode=mode, key=key, server_key=server_key, cloud_key=cloud_key,
                           device_os=None if device_os == "none" else device_os,
                           user_app=user_app != "none", owner=owner, bootloader=bootloader)
    if protected or service_mode:
        _check_protectable(platforms, device_os)
    try:
        if folder.is_dir():
            from particle_py.sim import protection
            protection.clear_folder(folder)
        knobs = _parse_faults(fault)
        if hub:
            knobs["HUB_PORTS"] = hub
        made = list(platforms) * count
        created = simdev.create(folder, made, recipe, knobs=knobs, first_id=device_id)
        if protected or service_mode:
            from particle_py.sim import protection
            for unit in range(len(made)):
                protection.make(folder, unit, service_mode=service_mode)
    except ValueError as exc:            # an unknown platform, bootloader or knob
        raise ParticlePyError(str(exc), "particle-sim create --help lists the choices.", 2) from None
    except OSError as exc:
        raise ParticlePyError(f"Cannot write the simulator state in {folder}: {exc.strerror or exc}",
                              "Give a folder you can write to in --state or PARTICLE_PY_SIM.", 73) from None
    if fault_on:
        _set_device_faults(folder, fault_on)
    for line in created:
        typer.echo(line)
    if Path(os.environ.get("PARTICLE_PY_SIM") or "").resolve() == folder.resolve():
        typer.echo(f"State: {folder}")
    else:
        typer.echo(f"State: {folder}   (use it: export PARTICLE_PY_SIM={folder})")


def _set_device_faults(folder: Path, items: List[str]) -> None:
    from particle_py.sim.bus import SimBus

    with SimBus.session(folder) as bus:
        boards = bus.devices()
        per_device: dict = {}
        for item in items:
            number, _, knob = item.partition(":")
            if not number.isdigit() or not 1 <= int(number) <= len(boards) or "=" not in knob:
                raise ParticlePyError(f"--fault-on {item!r}: expected N:KNOB=VALUE with N from 1 to {len(boards)}",
                                      exit_code=2)
            per_device.setdefault(int(number), {}).update(_parse_faults([knob]))
        for number, knobs in per_device.items():
            try:
                bus.set_unit_knobs(boards[number - 1].unit, knobs)
            except ValueError as exc:
                raise ParticlePyError(str(exc), "particle-sim create --help lists the choices.", 2) from None


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


@app.command()
def unplug(
    device: Optional[str] = typer.Option(None, "--device", help="Device id (default: the only one)."),
    state: Optional[str] = typer.Option(None, "--state", help=STATE_HELP),
):
    """Pull a device's USB cable (it keeps what its flash holds)."""
    from particle_py.sim import devices as simdev
    typer.echo(simdev.unplug(_state_dir(state), device))


@app.command()
def plug(
    device: Optional[str] = typer.Option(None, "--device", help="Device id (default: the only unplugged one)."),
    dfu: bool = typer.Option(False, "--dfu", help="Hold MODE while plugging in: stay in DFU mode."),
    state: Optional[str] = typer.Option(None, "--state", help=STATE_HELP),
):
    """Plug an unplugged device back in; it boots from what it holds."""
    from particle_py.sim import devices as simdev
    typer.echo(simdev.plug(_state_dir(state), device, dfu))


@app.command()
def firmware(
    platform: str = typer.Argument(..., help="Platform (photon, electron, argon, ...)."),
    device_os: str = typer.Option("1.5.2", "--device-os", help="Device OS version the files claim to be."),
    directory: str = typer.Option(".", "--dir", help="Folder to write them to."),
):
    """Write stand-in firmware files (system parts, an app) named as Particle's releases, with the
    commands that flash them. Stand-ins: real-shaped modules for the simulator, not Particle's code."""
    from particle_py import platforms
    from particle_py.sim import contents

    plat = platforms.by_name(platform)
    if plat is None:
        raise ParticlePyError(f"Unknown platform {platform!r}.", "Use one of: " + ", ".join(platforms.names()), 2)
    files = contents.stand_in_files(plat, _device_os_arg(device_os))
    if not files:
        raise ParticlePyError(f"The simulator models no firmware for the {plat.display_name}.", exit_code=2)
    folder = _folder_for_writing(Path(directory), "firmware files")
    vid, pid = plat.dfu_ids
    for number, (name, address, data) in enumerate(files, 1):
        try:
            (folder / name).write_bytes(data)
        except OSError as exc:
            raise ParticlePyError(f"Cannot write {folder / name}: {exc.strerror or exc}",
                                  "Give a folder you can write to with --dir.", 73) from None
        leave = ":leave" if number == len(files) else ""
        typer.echo(f"Wrote {folder / name} ({len(data)} bytes, goes to 0x{address:08x}): "
                   f"dfu-util -d {vid:04x}:{pid:04x} -a 0 -s 0x{address:x}{leave} -D {name}")


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def cloud(
    state: Optional[str] = typer.Option(None, "--state", help="Folder for cloud.sqlite and the server keys "
                                        "(default: $PARTICLE_PY_SIM/cloud or ./sim-cloud)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(0, "--port", help="Port to listen on; 0 picks a free one (printed)."),
    user: List[str] = typer.Option([], "--user", metavar="NAME:PASSWORD[:OTP]",
                                   help="Create or update a user (OTP makes login ask for that code). "
                                        "With none, a new cloud has me@example.com, password particle."),
    device: List[str] = typer.Option([], "--device", metavar="ID[:OWNER]",
                                     help="Add a device (24 hex digits), optionally owned by a user."),
    server_key: List[str] = typer.Option([], "--server-key", metavar="FILE",
                                         help="Also accept this server public key (DER or PEM). Particle's "
                                              "own keys and the cloud's generated ones always work."),
    address: List[str] = typer.Option([], "--address", metavar="HOST[:PORT]",
                                      help="Also answer devices whose server address is HOST."),
    use: bool = typer.Option(False, "--use", help="Point particle at this cloud: set apiUrl in the "
                             "active particle profile (~/.particle/<profile>.config.json)."),
    background: bool = typer.Option(False, "--background", help="Run in the background and return once it "
                                    "listens (stop it with: particle-sim cloud --stop)."),
    stop: bool = typer.Option(False, "--stop", help="Stop the cloud started with --background."),
):
    """Serve the simulated cloud on loopback until Ctrl-C (or in the background)."""
    from particle_py.sim import cloud as sim_cloud
    folder = Path(state) if state else sim_cloud.default_state_dir()
    if not 0 <= port <= 65535:
        raise ParticlePyError(f"--port {port}: a TCP port is 0 to 65535", "Give one in that range; 0 picks a free "
                              "port (printed).", 2)
    if stop:
        typer.echo(_stop_background_cloud(folder))
        return
    argv = (["--state", state] if state else []) + ["--host", host, "--port", str(port)]
    for flag, values in (("--user", user), ("--device", device), ("--server-key", server_key),
                         ("--address", address)):
        for value in values:
            argv += [flag, value]
    if background:
        raise typer.Exit(_start_background_cloud(folder, argv + (["--use"] if use else [])))
    on_ready = None
    if use:
        def on_ready(url):
            from particle_py.cloud.config import Settings
            settings = Settings()
            settings.update(apiUrl=url)
            print(f"particle now uses this cloud (apiUrl in {settings.path}); "
                  f"to go back to Particle's: remove apiUrl from that file", flush=True)
    from particle_py.errors import Interrupted
    _cloud_folder(folder)
    try:
        status = sim_cloud.main(argv, on_ready=on_ready)
    except Interrupted:
        status = 0          # ^C or SIGTERM is how a server is stopped: a normal end
    except OSError as exc:  # the address is taken or not this computer's, or the folder cannot be written
        raise ParticlePyError(f"Cannot serve the simulated cloud on {host}:{port}: {exc.strerror or exc}",
                              "Pick another --port (0 picks a free one) or --host (127.0.0.1 is this computer), "
                              "and check that the --state folder can be written.", 69) from None
    raise typer.Exit(status)


PID_FILE, LOG_FILE = "cloud.pid", "cloud.log"
READY_TEXT = "Simulated Particle cloud listening on "
USE_TEXT = "particle now uses this cloud"
HANDSHAKES_TEXT = "Reach them as a device would: "     # printed last, once the handshake ports are known


def _cloud_folder(folder: Path) -> None:
    """The cloud's state folder, made when missing; our error when it cannot be one (a file in its
    path, as when PARTICLE_PY_SIM names a file)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParticlePyError(f"Cannot use {folder} for the simulated cloud's state: {exc.strerror or exc}",
                              "Give a folder with --state, or point PARTICLE_PY_SIM at a simulator folder "
                              "(particle-sim create photon makes one).", 73) from None


def _start_background_cloud(folder: Path, argv: list) -> int:
    """Start ``particle-sim cloud`` as a background process logging to <folder>/cloud.log; return
    once it listens (and, with --use, has pointed particle at itself), showing what it printed."""
    import subprocess
    import time
    _cloud_folder(folder)
    if (folder / PID_FILE).exists():
        raise ParticlePyError(f"A simulated cloud already runs in the background for {folder}.",
                              "Stop it first: particle-sim cloud --stop", 1)
    log_path = folder / LOG_FILE
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "particle_py.cli.sim", "cloud", *argv],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    wanted = HANDSHAKES_TEXT
    text = ""
    while proc.poll() is None and wanted not in text:
        time.sleep(0.05)            # waiting for a child to start listening, not a timing assumption
        text = log_path.read_text(encoding="utf-8", errors="replace")
    text = log_path.read_text(encoding="utf-8", errors="replace")
    typer.echo(text.rstrip("\n"))
    if proc.poll() is not None:
        return proc.returncode or 1
    (folder / PID_FILE).write_text(str(proc.pid))
    typer.echo(f"(running in the background as process {proc.pid}; stop it with: particle-sim cloud --stop)")
    return 0


def _stop_background_cloud(folder: Path) -> str:
    import signal
    pid_path = folder / PID_FILE
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        raise ParticlePyError(f"No simulated cloud runs in the background for {folder}.",
                              "Start one: particle-sim cloud --background", 1)
    pid_path.unlink()
    try:
        os.kill(pid, signal.SIGTERM)        # the process this command started (its pid file)
    except ProcessLookupError:
        return f"The simulated cloud (process {pid}) had already stopped."
    return f"Stopped the simulated cloud (process {pid})."


def main(argv: Optional[list] = None) -> int:
    """The `particle-sim` console script; returns the exit status (the error path is cli/runner.py)."""
    from particle_py.cli import runner

    def work():
        # standalone mode: usage errors are printed by typer (exit 2), typer.Exit becomes SystemExit
        app(args=argv if argv is not None else sys.argv[1:], prog_name="particle-sim", standalone_mode=True)

    return runner.run(work, prog="particle-sim", process=argv is None)


if __name__ == "__main__":
    sys.exit(main())
