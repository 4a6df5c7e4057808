"""`particle device-protection status|enable|disable`, worded as particle-cli 3.51.0 words them."""
from __future__ import annotations

from typing import Optional

import typer  # the commands' typer.Context annotations are resolved in these globals


def status_lines(result) -> list[str]:
    from particle_py.ops.protection import STATUS_TEXT

    label, helper = STATUS_TEXT[result.state]
    return [f"{result.device_string()}: {label}", helper]


def register(app) -> None:
    from particle_py.cli.particle import selection

    dp_app = typer.Typer(name="device-protection", help="Manage Device Protection", no_args_is_help=True)
    device_help = "Device ID or name"
    every_opt, platform_opt, mode_opt = selection.options()

    def batch(ctx, device, every, platform, mode, action: str, work) -> bool:
        """particle-py's many-device form, a row each (False when one device is meant: 3.51's lines)."""
        return selection.run_if_batch(ctx, [device] if device else [], every, platform, mode, action=action,
                                      work=work, retry=lambda e: f"particle {action} --device {e.device_id}")

    @dp_app.command("status", help="Gets the current Device Protection status")
    def status(ctx: typer.Context, device: Optional[str] = typer.Option(None, "--device", "-d", help=device_help),
               every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import protection
        from particle_py.ops.protection import STATUS_TEXT

        if batch(ctx, device, every, platform, mode, "device-protection status",
                 lambda entry, reporter: STATUS_TEXT[protection.status(entry.device_id).state][0]):
            return

        for line in status_lines(protection.status(device)):
            typer.echo(line)

    @dp_app.command("disable", help="Disables Device Protection",
                    epilog="A Protected Device in Service Mode allows any command to be performed on it that can "
                           "be performed on an Open Device like flashing firmware or serial monitor.")
    def disable(ctx: typer.Context, device: Optional[str] = typer.Option(None, "--device", "-d", help=device_help),
                every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.cli import render
        from particle_py.ops import protection

        def work(entry, reporter) -> str:
            changed = protection.disable(entry.device_id, reporter=reporter)[1]
            return "in Service Mode (20 reboots or 24 hours)" if changed else "not a Protected Device"
        if batch(ctx, device, every, platform, mode, "device-protection disable", work):
            return

        result, changed = protection.disable(device, reporter=render.TextReporter(verbose=render.verbose(ctx)))
        if not changed:
            typer.echo(f"{result.device_string()} is not a Protected Device.")
            return
        typer.echo(f"{result.device_string()} is now in Service Mode.")
        typer.echo("A Protected Device stays in Service Mode for a total of 20 reboots or 24 hours.")

    @dp_app.command("enable", help="Enables Device Protection")
    def enable(ctx: typer.Context, device: Optional[str] = typer.Option(None, "--device", "-d", help=device_help),
               every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.cli import render
        from particle_py.ops import protection

        words = {"now": "now a Protected Device", "already": "already a Protected Device"}

        def work(entry, reporter) -> str:
            outcome = protection.enable(entry.device_id, reporter=reporter)[1]
            return words.get(outcome, "not in a product that supports Device Protection")
        if batch(ctx, device, every, platform, mode, "device-protection enable", work):
            return

        result, outcome = protection.enable(device, reporter=render.TextReporter(verbose=render.verbose(ctx)))
        if outcome == "now":
            typer.echo(f"{result.device_string()} is now a Protected Device.")
        elif outcome == "already":
            typer.echo(f"{result.device_string()} is already a Protected Device.")
        else:
            # particle-cli writes its product's protected bootloader here; particle-py writes none
            typer.echo(f"{result.device_string()} is not in a product that supports Device Protection.")

    app.add_typer(dp_app, name="device-protection")
