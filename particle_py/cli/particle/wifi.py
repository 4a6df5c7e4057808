"""`particle wifi add|join|clear|list|remove|current`: particle-cli 3.51's Wi-Fi commands for Gen3
and Gen4 devices, with its output. The questions go to stderr (stdout holds the results) and
the password is read without echo (3.51 echoes it)."""
from __future__ import annotations

from typing import Optional

import typer  # the commands' typer.Context annotations are resolved in these globals

FILE_HELP = "Take the credentials from a JSON file instead of prompting for them"
# "\b": click leaves that paragraph as it is written
FILE_EPILOGUE = ("The JSON file for passing Wi-Fi credentials should look like this:\n\n"
                 '\b\n{\n  "network": "my_ssid",\n  "security": "WPA2_PSK",\n  "password": "my_password",\n'
                 '  "hidden": false\n}\n\nThe security property can be NONE, WEP, WPA_PSK, WPA2_PSK, WPA3_PSK.\n'
                 "Enterprise networks are not supported.")


def ask(question):
    """One question of the Wi-Fi dialogue on a terminal (ops.wifi.Question)."""
    if question.kind == "secret":
        return typer.prompt(f"? {question.message}", hide_input=True, err=True)
    if question.kind == "confirm":
        return typer.confirm(f"? {question.message}", default=bool(question.default), err=True)
    if question.kind == "choice":
        typer.echo(f"? {question.message}", err=True)
        for number, choice in enumerate(question.choices, 1):
            typer.echo(f"  {number}) {choice}", err=True)
        while True:
            answer = typer.prompt("Number", err=True).strip()
            if answer.isdigit() and 1 <= int(answer) <= len(question.choices):
                return question.choices[int(answer) - 1]
            typer.echo(f"Type a number from 1 to {len(question.choices)}.", err=True)
    while True:
        answer = typer.prompt(f"? {question.message}", err=True).strip()
        if answer:
            return answer
        typer.echo("Please enter the SSID", err=True)


def _asker():
    import sys

    return ask if sys.stdin.isatty() and sys.stderr.isatty() else None


def joined_lines(joined, known: bool) -> list[str]:
    # 3.51 spells it "Attemping" after --ssid, "Attempting" after new credentials
    attempting = "Attemping" if known else "Attempting"
    lines = ["Exiting listening mode..."] if joined.left_listening else []
    return lines + [f"Wi-Fi network '{joined.ssid}' configured successfully. {attempting} to join...",
                    "Use particle wifi current to check the current network."]


def list_lines(listed) -> list[str]:
    lines = ["List of Wi-Fi networks on the device:", ""]
    for network in listed.networks:
        line = f"- {network.ssid} ({network.security_name})"
        lines.append(line + (" - current network" if network.ssid == listed.current_ssid else ""))
    if not listed.networks:
        lines.append("No Wi-Fi networks found.")
    return lines


def current_lines(network) -> list[str]:
    return ["Current Wi-Fi network:", "", f"- SSID: {network.ssid}", f"  BSSID: {network.bssid}",
            f"  Channel: {network.channel}", f"  RSSI: {network.rssi}", ""]


def register(app) -> None:
    wifi_app = typer.Typer(name="wifi", help="Configure Wi-Fi credentials to your device (Supported on Gen 3+ "
                           "devices)", no_args_is_help=True)

    def ctx_reporter(ctx):
        from particle_py.cli import render

        return render.TextReporter(verbose=render.verbose(ctx))

    def echo_lines(lines):
        for line in lines:
            typer.echo(line)

    from particle_py.cli.particle import selection

    every_opt, platform_opt, mode_opt = selection.options()

    def batch(ctx, every, platform, mode, action: str, again: str, work, *, needs_file: Optional[bool] = None) -> bool:
        """particle-py's many-device form (3.51's wifi commands take the one device attached):
        ``work(entry, reporter)`` on each selected device at once; False when none was asked for.
        The finish command runs the same again on every device (each change is safe to repeat)."""
        if needs_file is False and selection.is_batch([], every, platform, mode):
            from particle_py.errors import EX_USAGE, ParticlePyError

            raise ParticlePyError("With several devices, give the network in a file: --file",
                                  f'Example: particle {action} --file wifi.json --all, the file holding '
                                  '{"network": "...", "security": "WPA2_PSK", "password": "..."}; questions are '
                                  'asked of one device only.', EX_USAGE)
        return selection.run_if_batch(ctx, [], every, platform, mode, action=action, work=work,
                                      retry=lambda entry: again)

    def add(ctx: typer.Context, file: Optional[str] = typer.Option(None, "--file", help=FILE_HELP),
            every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import wifi

        if batch(ctx, every, platform, mode, "wifi add", f"particle wifi add --file {file} --all",
                 lambda entry, reporter: f"network '{wifi.add(file, None, reporter=reporter)}' added",
                 needs_file=bool(file)):
            return
        ssid = wifi.add(file, _asker(), reporter=ctx_reporter(ctx))
        echo_lines([f"Wi-Fi network '{ssid}' added successfully.",
                    "To join this network, run particle wifi join --ssid <SSID>", ""])
    wifi_app.command("add", help="Adds a Wi-Fi network to your device", epilog=FILE_EPILOGUE)(add)

    def join(ctx: typer.Context, file: Optional[str] = typer.Option(None, "--file", help=FILE_HELP),
             ssid: Optional[str] = typer.Option(None, "--ssid", help="The name of the network to join"),
             every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import wifi

        def join_one(entry, reporter) -> str:
            joined = wifi.join_known(ssid, reporter=reporter) if ssid else wifi.join(file, None, reporter=reporter)
            return f"joined '{joined.ssid}'"
        again = f"particle wifi join --ssid {ssid} --all" if ssid else f"particle wifi join --file {file} --all"
        if batch(ctx, every, platform, mode, "wifi join", again, join_one, needs_file=bool(file or ssid)):
            return
        if ssid:
            echo_lines(joined_lines(wifi.join_known(ssid, reporter=ctx_reporter(ctx)), known=True))
        else:
            echo_lines(joined_lines(wifi.join(file, _asker(), reporter=ctx_reporter(ctx)), known=False))
    wifi_app.command("join", help="Joins a Wi-Fi network", epilog=FILE_EPILOGUE)(join)

    @wifi_app.command("clear", help="Clears the list of Wi-Fi networks on your device")
    def clear(ctx: typer.Context,
              every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import wifi

        if batch(ctx, every, platform, mode, "wifi clear", "particle wifi clear --all",
                 lambda entry, reporter: (wifi.clear(reporter=reporter), "networks cleared")[1]):
            return

        wifi.clear(reporter=ctx_reporter(ctx))
        typer.echo("Wi-Fi networks cleared successfully.")

    @wifi_app.command("list", help="Lists the Wi-Fi networks on your device")
    def list_(ctx: typer.Context,
              every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import wifi

        def listed(entry, reporter) -> str:
            networks = wifi.list_networks(reporter=reporter)
            names = [n.ssid + (" (current)" if n.ssid == networks.current_ssid else "") for n in networks.networks]
            return f"{len(names)} network{'s' * (len(names) != 1)}: " + ", ".join(names) if names else "no networks"
        if batch(ctx, every, platform, mode, "wifi list", "particle wifi list --all", listed):
            return

        lines = list_lines(wifi.list_networks(reporter=ctx_reporter(ctx)))
        if lines[-1] == "No Wi-Fi networks found.":
            # 3.51 writes that line with no end, then an empty line's end
            typer.echo("\n".join(lines))
        else:
            echo_lines(lines + [""])

    @wifi_app.command("remove", help="Removes a Wi-Fi network from the device")
    def remove(ctx: typer.Context,
               ssid: Optional[str] = typer.Option(None, "--ssid", help="The name of the network to remove"),
               every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import wifi

        if batch(ctx, every, platform, mode, "wifi remove", f"particle wifi remove --ssid {ssid} --all",
                 lambda entry, reporter: f"network {wifi.remove(ssid, reporter=reporter)} removed"):
            return

        removed = wifi.remove(ssid, reporter=ctx_reporter(ctx))
        echo_lines([f"Wi-Fi network {removed} removed from device's list successfully.",
                    "To disconnect from the network, run particle usb reset.", ""])

    @wifi_app.command("current", help="Gets the current Wi-Fi network")
    def current(ctx: typer.Context,
                every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import wifi

        def now(entry, reporter) -> str:
            network = wifi.current(reporter=reporter)
            return f"{network.ssid} (channel {network.channel}, RSSI {network.rssi})"
        if batch(ctx, every, platform, mode, "wifi current", "particle wifi current --all", now):
            return

        echo_lines(current_lines(wifi.current(reporter=ctx_reporter(ctx))))

    app.add_typer(wifi_app, name="wifi")
