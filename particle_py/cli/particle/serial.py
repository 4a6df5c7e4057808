"""`particle serial list|identify|mac|inspect|wifi|monitor`: output as particle-cli prints it.

Answers read over USB control requests are printed in particle-cli 3.21+'s shape; answers
read over the listening-mode serial protocol (Device OS too old for the control request) in
the shape particle-cli printed them then, which is what forum posts quote.
"""
from __future__ import annotations

import sys
from typing import Optional

from particle_py.events import Reporter

PORT_HELP = "Use this serial port: a number from `particle serial list`, or its path (/dev/ttyACM0, COM3)"

# particle-usb's display names through lodash's _.capitalize (so "Radio stack module module #0")
CURRENT_NAMES = {"INVALID": "Invalid", "RESOURCE": "Resource", "BOOTLOADER": "Bootloader",
                 "MONO_FIRMWARE": "Monolithic firmware", "SYSTEM_PART": "System part", "USER_PART": "User part",
                 "SETTINGS": "Settings", "NCP_FIRMWARE": "Network co-processor firmware",
                 "RADIO_STACK": "Radio stack module", "ASSET": "Asset"}
# particle-cli <= 3.20 (binary-version-reader's describe letters)
OLD_FUNCTIONS = {"s": "System", "u": "User", "b": "Bootloader", "r": "Reserved", "m": "Monolithic",
                 "a": "Radio stack", "c": "NCP"}
OLD_LOCATIONS = {"m": "main", "b": "backup", "f": "factory", "t": "temp"}


def _kb(size: int) -> str:
    """JavaScript's printing of size/1000 (16.384, 16, 0.5)."""
    value = size / 1000
    return str(int(value)) if value == int(value) else repr(value)


# The four checks inspect prints, in particle-cli's order: the label, the current reply's name for
# a failed check, and the bit the old serial reply sets when the check passed.
CHECKS = (("Integrity", "INTEGRITY_CHECK_FAILED", 2), ("Address Range", "RANGE_CHECK_FAILED", 8),
          ("Platform", "PLATFORM_CHECK_FAILED", 16), ("Dependencies", "DEPENDENCY_CHECK_FAILED", 4))


def inspect_lines_current(result) -> list[str]:
    lines = [f"Device: {result.device_id}"]
    name = result.platform.display_name if result.platform else "undefined"
    lines += [f"Platform: {result.platform_id} - {name}", ""]
    if result.modules:
        lines.append("Modules")
        for m in result.modules:
            lines.append(f"  {CURRENT_NAMES.get(m.type, '')} module #{m.index} - version {m.version}")
            lines.append(f"  Size: {_kb(m.size)} kB" + (f" / MaxSize: {_kb(m.max_size)} kB" if m.max_size else ""))
            if m.type == "USER_PART" and m.hash:
                lines.append(f"    UUID: {m.hash}")
            errors = m.validity_errors
            lines += [f"    {label}: {'FAIL' if failed in errors else 'PASS'}" for label, failed, _bit in CHECKS]
            for dep in m.dependencies:
                lines.append(f"      {CURRENT_NAMES.get(dep.type, '')} module #{dep.index} - version {dep.version}")
            lines.append("")
    return lines


def _old_number(text: str) -> str:
    """util.format's %d of a describe index string."""
    try:
        return str(int(text))
    except ValueError:
        return "NaN"


def inspect_lines_old(result) -> list[str]:
    lines = []
    if result.platform_id is not None:
        name = result.platform.display_name if result.platform else ""
        lines.append(f"Platform: {result.platform_id} - {name}" if name else f"Platform: {result.platform_id} ")
    if result.modules:
        lines.append("Modules")
        for m in result.modules:
            func = OLD_FUNCTIONS.get(m.function or "")
            location = OLD_LOCATIONS.get(m.location, "undefined")
            if not func:
                lines.append(f"  empty - {location} location, {m.max_size} bytes max size")
                continue
            lines.append(f"  {func} module #{m.index} - version {m.version}, {location} location, "
                         f"{m.max_size} bytes max size")
            if m.function == "u" and m.uuid:
                lines.append(f"    UUID: {m.uuid}")
            lines += [f"    {label}: {'PASS' if m.validity_values & bit else 'FAIL'}" for label, _failed, bit in CHECKS]
            for dep_function, index, version in m.deps:
                lines.append(f"      {OLD_FUNCTIONS.get(dep_function, 'undefined')} module #{_old_number(index)} "
                             f"- version {version}")
    return lines


class _MonitorText(Reporter):
    """`serial monitor`'s port events (``serial_ops.MonitorState``) in particle-cli's words."""

    WORDS = {"polling": "Polling for available serial device...",
             "opening": 'Opening serial monitor for com port: " {port} "',
             "opened": "Serial monitor opened successfully:",
             "reconnecting": "\nSerial connection closed.  Attempting to reconnect...",
             "closed": "\nSerial connection closed."}

    def emit(self, event) -> None:
        import typer

        words = self.WORDS.get(getattr(event, "state", None))
        if words is not None:
            typer.echo(words.format(port=event.port))


def register(app) -> None:
    import typer

    serial_app = typer.Typer(help="Simple serial interface to your devices", no_args_is_help=True)

    @serial_app.command("list", help="Show devices connected via serial to your computer")
    def list_():
        from particle_py.ops.serial_ops import list_serial

        devices = list_serial()
        if not devices:
            typer.echo("No devices available via serial")
            return
        typer.echo(f"Found {len(devices)} {'devices' if len(devices) > 1 else 'device'} connected via serial:")
        for device in devices:
            typer.echo(device.line())

    @serial_app.command("identify", help="Ask for and display device ID via serial")
    def identify(device: Optional[str] = typer.Argument(None, help="Device ID (when several are connected)"),
                 port: Optional[str] = typer.Option(None, "--port", help=PORT_HELP)):
        from particle_py.cli.particle.identify import print_identity
        print_identity(device, port)

    @serial_app.command("mac", help="Ask for and display MAC address via serial")
    def mac(port: Optional[str] = typer.Option(None, "--port", help=PORT_HELP)):
        from particle_py.cli.particle import prompts
        from particle_py.ops.serial_ops import mac as do_mac

        result = do_mac(port, choose=prompts.device_chooser())
        if not result.mac:
            typer.echo("Your device does not have a MAC address")
            return
        typer.echo(f"Your device MAC address is {result.mac}")
        if result.interface:
            typer.echo(f"Interface is {result.interface.capitalize()}")

    @serial_app.command("inspect", help="Ask for and display device module information via serial")
    def inspect(port: Optional[str] = typer.Option(None, "--port", help=PORT_HELP)):
        from particle_py.cli.particle import prompts
        from particle_py.ops.serial_ops import inspect as do_inspect

        result = do_inspect(port, choose=prompts.device_chooser())
        lines = inspect_lines_current(result) if result.via == "usb" else inspect_lines_old(result)
        for line in lines:
            typer.echo(line)

    @serial_app.command("wifi", help="Configure Wi-Fi credentials over serial")
    def wifi(port: Optional[str] = typer.Option(None, "--port", help=PORT_HELP),
             file: Optional[str] = typer.Option(None, "--file", help='JSON file: {"network", "security", '
                                                '"password"} (enterprise: "eap", "username", ...)')):
        from particle_py.cli.particle import prompts
        from particle_py.ops import serial_ops

        answers = serial_ops.load_wifi_file(file) if file else {}
        chosen, newer = serial_ops.wifi_recommendation(port, choose=prompts.device_chooser())
        if newer:
            typer.echo("[Recommendation]")
            typer.echo("Use the improved Wi-Fi configuration commands for this device-os version (>= 6.2.0)")
            typer.echo("See 'particle wifi --help' for more details on available commands")
            typer.echo("")
        serial_ops.configure_wifi(chosen, answers, _ask_wifi)
        typer.echo("Done! Your device should now restart.")

    @serial_app.command("monitor", help="Connect and display messages from a device")
    def monitor(port: Optional[str] = typer.Option(None, "--port", help=PORT_HELP),
                follow: bool = typer.Option(False, "--follow", help="Reconnect when the device resets"),
                timestamp: bool = typer.Option(False, "--timestamp",
                                               help="Prepend a timestamp to each line of output"),
                utc: bool = typer.Option(False, "--utc", help="Use UTC instead of local time for the timestamp")):
        from particle_py.cli.particle import prompts
        from particle_py.ops.serial_ops import TimestampWriter, monitor as do_monitor

        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        # --utc alone means --timestamp --utc, as in particle-cli 3.51
        on_text = TimestampWriter(write, utc=utc) if timestamp or utc else write

        try:
            do_monitor(port, follow, on_text, _MonitorText(), choose=prompts.device_chooser())
        except KeyboardInterrupt:
            # Ctrl-C is how a monitor ends: particle-cli closes the port and exits 0
            sys.stdout.write("\n")
            raise typer.Exit(0)

    app.add_typer(serial_app, name="serial")


def _ask_wifi(key: str) -> str:
    """Interactive answers for the Wi-Fi dialogue; the password is never echoed."""
    import typer

    if key == "network":
        while True:
            ssid = typer.prompt("SSID", err=True).strip()
            if ssid:
                return ssid
            typer.echo("Please enter a valid SSID", err=True)
    if key in ("security", "security_enterprise"):
        choices = "3=WPA2, 2=WPA, 1=WEP, 0=Unsecured" + (", 4=WPA Enterprise, 5=WPA2 Enterprise"
                                                       if key == "security_enterprise" else "")
        top = 5 if key == "security_enterprise" else 3
        while True:
            answer = typer.prompt(f"Security Type ({choices})", default="3", err=True).strip()
            if answer.isdigit() and 0 <= int(answer) <= top:
                return answer
    if key == "cipher":
        while True:
            answer = typer.prompt("Cipher Type (3=AES+TKIP, 2=TKIP, 1=AES)", default="3", err=True).strip()
            if answer in ("1", "2", "3"):
                return answer
    if key == "eap":
        while True:
            answer = typer.prompt("EAP Type (0=PEAP/MSCHAPv2, 1=EAP-TLS)", default="0", err=True).strip()
            if answer in ("0", "1"):
                return answer
    if key in ("client_certificate", "private_key", "root_ca"):
        label = {"client_certificate": "Client certificate", "private_key": "Private key",
                 "root_ca": "CA certificate (optional, Enter for none)"}[key]
        path = typer.prompt(f"{label}: path of its PEM file", default="" if key == "root_ca" else None,
                            err=True, show_default=False).strip()
        if not path:
            return ""
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            from particle_py.errors import ParticlePyError
            raise ParticlePyError(f"Cannot read {path}: {exc.strerror}", "Give the path of a PEM file.", 66) from None
    if key == "outer_identity":
        return typer.prompt("Outer identity (optional)", default="", show_default=False, err=True)
    if key == "username":
        return typer.prompt("Username", err=True)
    return typer.prompt("Wi-Fi Password" if key == "password" else "Password", hide_input=True, err=True)
