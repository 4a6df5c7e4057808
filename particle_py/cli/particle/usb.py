"""`particle usb`: list, dfu, reset, start-listening (listen), stop-listening, safe-mode, setup-done,
configure, cloud-status, network-interfaces, env, send-request (particle-cli 3.51's tree)."""
from __future__ import annotations

import enum
from typing import List, Optional


class CloudState(str, enum.Enum):
    """--until's choices (particle-usb's CloudConnectionStatus, lower case)."""
    unknown = "unknown"
    disconnected = "disconnected"
    connecting = "connecting"
    connected = "connected"
    disconnecting = "disconnecting"


def netmask(prefix: int) -> str:
    """A prefix length as a dotted netmask, as ifconfig shows it."""
    bits = (0xFFFFFFFF << (32 - min(max(prefix, 0), 32))) & 0xFFFFFFFF
    return ".".join(str((bits >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def interface_lines(answer) -> list[str]:
    """One device's interfaces as particle-cli 3.51 prints them (ifconfig-like)."""
    lines = [f"Device ID: {answer.device_id} ({answer.platform_name})"]
    for iface in answer.value:
        lines.append(f"\t{iface.name}({iface.type}): flags={iface.flags}<{','.join(iface.flag_names)}> "
                     f"mtu {iface.mtu}")
        for address in iface.ipv4:
            ip, prefix = address.split("/")
            lines.append(f"\t\tinet {ip} netmask {netmask(int(prefix))}")
        for address in iface.ipv6:
            ip, prefix = address.split("/")
            lines.append(f"\t\tinet6 {ip} prefixlen {prefix}")
        if iface.hw_address:
            lines.append(f"\t\tether {iface.hw_address}")
    return lines


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A box table drawn as particle-cli's (cli-table: a rule between every row)."""
    widths = [max(len(str(r[i])) for r in [head] + rows) + 2 for i in range(len(head))]

    def rule(left, mid, right):
        return left + mid.join("\u2500" * w for w in widths) + right

    def row(cells):
        return "\u2502" + "\u2502".join(f" {str(c).ljust(w - 2)} " for c, w in zip(cells, widths)) + "\u2502"
    out = [rule("\u250c", "\u252c", "\u2510"), row(head)]
    for cells in rows:
        out += [rule("\u251c", "\u253c", "\u2524"), row(cells)]
    return out + [rule("\u2514", "\u2534", "\u2518")]


def env_lines(answer) -> list[str]:
    lines = [f"Device: {answer.device_id} ({answer.platform_name})", ""]
    variables = sorted(answer.value.variables, key=lambda v: v.name)
    if not variables:
        return lines + ["  No environment variables set"]
    return lines + ["\n".join(table(["Name", "Value", "Scope"],
                                     [[v.name, v.value, "Firmware" if v.is_app else "Cloud"] for v in variables]))]


def env_json(answer) -> dict:
    out = {"deviceId": answer.device_id, "platformId": answer.platform_id, "platform": answer.platform_name}
    if answer.error is not None:
        return {**out, "error": answer.error}
    out["env"] = {v.name: {"value": v.value, "isApp": v.is_app} for v in answer.value.variables}
    if answer.value.snapshot_hash:
        out["snapshot"] = {"hash": answer.value.snapshot_hash.hex()}
    return out


def echo_hint(answer) -> None:
    """The next step after one device's error (stderr), as the error path prints a hint."""
    import typer

    if answer.hint:
        typer.echo(answer.hint, err=True)


def exit_status(answers) -> int:
    """The exit status of a command that went on past failures: the failures' (1 at least)."""
    return max([a.exit_code for a in answers if a.error is not None] or [1])


def request_error_line(result: int, device_id: str) -> str:
    """particle-cli's words for an application request's failure (particle-usb's result names)."""
    from particle_py.control_codes import RESULT_NOT_SUPPORTED

    if result == RESULT_NOT_SUPPORTED:
        return ("Your firmware doesn't include a handler for application-specific requests. "
                "Define ctrl_request_custom_handler in your code and try again.")
    return f"Error sending request to device {device_id}: {RESULT_NAMES.get(result, result)}"


# particle-usb result.js: the names 3.51 prints for a failed application request
RESULT_NAMES = {-100: "ERROR", -110: "BUSY", -120: "NOT_SUPPORTED", -130: "NOT_ALLOWED", -140: "CANCELLED",
                -150: "ABORTED", -160: "TIMEOUT_ERROR", -170: "NOT_FOUND", -180: "ALREADY_EXISTS", -190: "TOO_LARGE",
                -200: "LIMIT_EXCEEDED", -210: "INVALID_STATE", -220: "IO_ERROR", -230: "NETWORK_ERROR",
                -240: "PROTOCOL_ERROR", -250: "INTERNAL_ERROR", -260: "NO_MEMORY", -270: "INVALID_ARGUMENT",
                -280: "BAD_DATA", -290: "OUT_OF_RANGE", -1801: "DEVICE_PROTECTED", -1802: "KEY_MISMATCH",
                -1803: "INVALID_SIGNATURE"}


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

    devices_arg = typer.Argument(None, help="Device IDs or names", show_default=False)
    all_opt = typer.Option(False, "--all", help="Send the command to all devices connected to the host computer")
    # particle-py's filters, as every device command has them (docs/many-devices.md)
    platform_opt = typer.Option(None, "--platform", help="Only devices of this platform (photon, argon, ...)")
    mode_opt = typer.Option(None, "--mode", help="Only devices in this mode: normal, dfu or listening")

    def targets(devices, every, platform, mode):
        from particle_py.ops.discovery import Selection

        return Selection(tuple(devices or ()), every, platform, mode)

    @usb_app.command("dfu", help="Put a device into the DFU mode")
    def dfu(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
            platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import enter_dfu_all

        enter_dfu_all(targets(devices, all_, platform, mode))
        typer.echo("Done.")

    @usb_app.command("reset", help="Reset a device")
    def reset(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
              platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import reset_all

        reset_all(targets(devices, all_, platform, mode))
        typer.echo("Done.")

    def start_listening(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
                        platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import start_listening_all

        start_listening_all(targets(devices, all_, platform, mode))
        typer.echo("Done.")

    usb_app.command("start-listening", help="Put a device into the listening mode")(start_listening)
    usb_app.command("listen", help="alias for start-listening")(start_listening)

    @usb_app.command("stop-listening", help="Make a device exit the listening mode")
    def stop_listening(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
                       platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import stop_listening as do_stop

        do_stop(targets(devices, all_, platform, mode))
        typer.echo("Done.")

    @usb_app.command("safe-mode", help="Put a device into the safe mode")
    def safe_mode(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
                  platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import safe_mode as do_safe

        do_safe(targets(devices, all_, platform, mode))
        typer.echo("Done.")

    @usb_app.command("setup-done", help="Set the setup done flag")
    def setup_done(devices: Optional[List[str]] = devices_arg,
                   reset: bool = typer.Option(False, "--reset", help="Clear the setup done flag"),
                   all_: bool = all_opt,
                   platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import setup_done as do_setup_done

        do_setup_done(targets(devices, all_, platform, mode), clear=reset)
        typer.echo("Done.")

    @usb_app.command("cloud-status", help="Check a device's cloud connection state")
    def cloud_status(device: str = typer.Argument(..., help="Device ID or name", show_default=False),
                     until: Optional[CloudState] = typer.Option(
                         None, "--until", help="Poll your device for a specific connection state and then exit"),
                     timeout: int = typer.Option(
                         60000, "--timeout", min=0,
                         help="How long should polling wait (in ms) for the requested status?")):
        from particle_py.ops.usb_commands import cloud_status as do_status

        typer.echo(do_status(device, until.value if until else None, timeout))

    @usb_app.command("network-interfaces", help="Gets the network configuration of the device")
    def network_interfaces(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
                           platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import network_interfaces as do_ifaces

        answers = do_ifaces(targets(devices, all_, platform, mode))
        lines, failed = [], False
        for answer in answers:
            if answer.error is not None:
                failed = True
                typer.echo(f"Error getting network interfaces ({answer.platform_name} / {answer.device_id}): "
                           f"{answer.error}\n", err=True)
                echo_hint(answer)
                continue
            lines += interface_lines(answer)
        if not lines and not failed:
            typer.echo("No network interfaces found.")
        for line in lines:
            typer.echo(line)
        if failed:
            raise typer.Exit(exit_status(answers))

    @usb_app.command("env", help="Gets environment variables from a device")
    def env(devices: Optional[List[str]] = devices_arg, all_: bool = all_opt,
            platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt,
            json_: bool = typer.Option(False, "--json", help="Output the environment variables in JSON format")):
        from particle_py.ops.usb_commands import env_variables

        answers = env_variables(targets(devices, all_, platform, mode))
        if json_:
            import json

            typer.echo(json.dumps([env_json(a) for a in answers], indent=2, ensure_ascii=False))
        else:
            for answer in answers:
                if answer.error is not None:
                    typer.echo(answer.error, err=True)
                    echo_hint(answer)
                else:
                    for line in env_lines(answer):
                        typer.echo(line)
        if any(a.error is not None for a in answers):
            raise typer.Exit(exit_status(answers))

    @usb_app.command("send-request", help="Send an application-specific request to the device over USB")
    def send_request(payload: str = typer.Argument(..., help="The request's payload (text)", show_default=False),
                     devices: Optional[List[str]] = devices_arg,
                     silent: bool = typer.Option(False, "--silent",
                                                 help="Do not print the response from the device to the console"),
                     timeout: int = typer.Option(60000, "--timeout", min=1,
                                                 help="How long to wait (in ms) for the request to complete (accepted as "
                                                      "particle-cli's; the USB exchange keeps its own limits)"),
                     all_: bool = all_opt,
                     platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops.usb_commands import send_request as do_send

        answers = do_send(payload, targets(devices, all_, platform, mode))
        failed = False
        for answer in answers:
            if answer.error is not None:
                failed = True
                typer.echo(f"Error sending request to device {answer.device_id}: {answer.error}", err=True)
                echo_hint(answer)
                continue
            result, text = answer.value
            if silent:
                typer.echo(text if result == 0 else str(result))
                failed = failed or result != 0
                continue
            typer.echo(f"Device {answer.device_id}:")
            if result == 0:
                typer.echo(f"Command was successfully sent to device {answer.device_id}.")
                if text:
                    typer.echo(f"Response from device {answer.device_id}: {text}")
            else:
                failed = True
                typer.echo(request_error_line(result, answer.device_id), err=True)
        if failed:
            raise typer.Exit(exit_status(answers))

    @usb_app.command("configure", help="Update the system USB configuration (udev rules on Linux)")
    def configure():
        from particle_py.cli.render import TextReporter
        from particle_py.ops.host_setup import configure as do_configure

        do_configure(reporter=TextReporter())

    app.add_typer(usb_app, name="usb")
