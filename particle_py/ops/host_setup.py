"""`particle usb configure`: what this computer needs before it can talk to Particle devices.

Per operating system the answer is data (HOST_SETUPS): on Linux a udev rules file shipped with
the package (particle_py/data/50-particle.rules) is installed; macOS needs nothing; Windows
needs the WinUSB driver bound to each device mode, which no program of ours can install
silently. The lines go to the reporter as steps; the front end prints them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from particle_py import events
from particle_py.errors import ParticlePyError

UDEV_RULES_NAME = "50-particle.rules"
UDEV_RULES_DIR = "/etc/udev/rules.d"
UDEV_RELOAD = "sudo udevadm control --reload-rules && sudo udevadm trigger"

@dataclass(frozen=True)
class HostSetup:
    system: str                 # the name users know
    installs_udev_rules: bool   # Linux: copy the rules file into the udev rules folder
    advice: tuple[str, ...]     # printed as is (after the install, if any)


WINUSB_STEPS = (
    "Windows needs the WinUSB driver bound to each mode of a Particle device (running, and DFU",
    "mode: blinking yellow) before libusb can open it. Nothing is installed by this command.",
    "Either install Particle's drivers (Particle's Windows CLI installer includes them), or use",
    "Zadig (https://zadig.akeo.ie): Options > List All Devices, pick the Particle device",
    "(in DFU mode it is named \"... DFU Mode\"), choose WinUSB, press Replace Driver.",
    "Do it once per mode: put the device in DFU mode (particle usb dfu) and repeat.",
)

HOST_SETUPS = {
    "linux": HostSetup("Linux", True, (
        "Then unplug and reconnect your Particle devices.",
        "Access goes to the user logged in at this computer (uaccess); over ssh, add your user to",
        "the plugdev group instead: sudo usermod -aG plugdev $USER (then log in again).",
    )),
    "macos": HostSetup("macOS", False, (
        "macOS needs no driver and no permission change for Particle devices: nothing to do.",
    )),
    "windows": HostSetup("Windows", False, WINUSB_STEPS),
    "other": HostSetup("this system", False, (
        "particle-py knows no set-up step for this system; if USB access fails, run the command",
        "as a user allowed to open USB devices.",
    )),
}


def system_key(platform: Optional[str] = None) -> str:
    """sys.platform (or the given one) as a HOST_SETUPS key."""
    platform = platform or sys.platform
    for prefix, key in (("linux", "linux"), ("darwin", "macos"), ("win32", "windows"), ("cygwin", "windows")):
        if platform.startswith(prefix):
            return key
    return "other"


def rules_source() -> Path:
    from particle_py.assets import data_path

    return data_path(UDEV_RULES_NAME)


def install_command(source: Path, target: Path) -> list[str]:
    """The privileged copy for a non-root user; `install -m 0644` sets the mode whatever the umask."""
    return ["sudo", "install", "-m", "0644", str(source), str(target)]


def configure(platform: Optional[str] = None, *, rules_dir: str = UDEV_RULES_DIR,
              reporter: events.Reporter = events.QUIET) -> str:
    """Set this computer up; returns 'installed', 'already' or 'nothing'.
    ParticlePyError when the rules could not be installed."""
    setup = HOST_SETUPS[system_key(platform)]
    if not setup.installs_udev_rules:
        for line in setup.advice:
            reporter.step(line)
        return "nothing"
    folder = Path(rules_dir)
    if not folder.is_dir():
        reporter.step(f"This system has no {rules_dir} folder (no udev): there is nothing to install.")
        reporter.step("If USB access fails, run the command as a user allowed to open USB devices.")
        return "nothing"
    source = rules_source()
    target = folder / UDEV_RULES_NAME
    wanted = source.read_bytes()
    try:
        current: Optional[bytes] = target.read_bytes()
    except FileNotFoundError:
        current = None
    except OSError:
        current = b""               # there but unreadable to us: treat it as someone's own file
    if current == wanted:
        reporter.step(f"The system is already configured: {target} is up to date.")
        return "already"
    writable = os.access(folder, os.W_OK)
    backup = _backup_name(target, current) if current is not None else None
    if writable:
        if backup is not None:
            _keep(target, backup, reporter)
        reporter.step(f"Writing {target}")
        _write(target, wanted)
    else:
        if backup is not None:
            _sudo(install_command(target, backup), reporter,
                  f"Could not keep a copy of {target} as {backup}, so it was not replaced",
                  f"Copy it yourself (sudo cp {target} {backup}), then run the command again.")
            reporter.step(f"Kept the previous {target.name} as {backup}")
        _sudo(install_command(source, target), reporter, f"Could not install {target}",
              f"Install it as root: copy {source} to {target} (mode 0644), then run: {UDEV_RELOAD}")
    reporter.step("udev rules installed. Make udev read them now with:")
    reporter.step(f"  {UDEV_RELOAD}")
    for line in setup.advice:
        reporter.step(line)
    return "installed"


def _sudo(command: list, reporter: events.Reporter, failure: str, hint: str) -> None:
    reporter.step(" ".join(command))
    try:
        done = subprocess.run(command, stdin=None, check=False).returncode
    except FileNotFoundError:
        done = None
    if done != 0:
        raise ParticlePyError(failure + (" (sudo is not available)" if done is None else ""), hint)


def _backup_name(target: Path, current: bytes) -> Optional[Path]:
    """Where the file being replaced is kept: <name>.bak (udev reads only *.rules, so the copy
    is inert), or .bak.1, .bak.2, ... past copies of something else; None when a copy of these
    very bytes is kept already."""
    for n in range(0, 100):
        candidate = target.with_name(target.name + (".bak" if n == 0 else f".bak.{n}"))
        try:
            if candidate.read_bytes() == current:
                return None
        except FileNotFoundError:
            return candidate
        except OSError:
            continue
    return target.with_name(target.name + f".bak.{os.getpid()}")


def _keep(target: Path, backup: Path, reporter: events.Reporter) -> None:
    try:
        _write(backup, target.read_bytes())
    except (OSError, ParticlePyError) as err:
        raise ParticlePyError(f"Could not keep a copy of {target} as {backup}, so it was not replaced: "
                              f"{getattr(err, 'strerror', None) or getattr(err, 'message', err)}",
                              f"Copy it yourself (sudo cp {target} {backup}), then run the command again.") from None
    reporter.step(f"Kept the previous {target.name} as {backup}")


def _write(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)            # whatever the umask: udev rules are world-readable
        os.replace(tmp, target)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ParticlePyError(f"Could not write {target}: {err.strerror or err}",
                              f"Run the command as root (sudo particle usb configure), or copy the file "
                              f"yourself and run: {UDEV_RELOAD}") from None
