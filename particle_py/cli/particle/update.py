"""`particle update [device] [--target <version>] [--from PATH]`: Device OS over USB.

Three shapes, as particle-cli's eras had them, each with that era's messages:
``particle update`` (1.x/2.x: the device in DFU mode), ``particle update <device>``
(3.3-3.13) and ``particle update [device] --target <version>`` (3.14+). Success is printed
only once every module is in flash and verified.
"""
from __future__ import annotations

from typing import List, Optional

import typer  # the command's typer.Context annotation is resolved in these globals

SHAPE_DFU, SHAPE_DEVICE, SHAPE_TARGET = "1.x/2.x", "3.3-3.13", "3.14+"


def _shape(device: Optional[str], target: Optional[str]) -> str:
    if target is not None:
        return SHAPE_TARGET
    return SHAPE_DEVICE if device else SHAPE_DFU


def register(app) -> None:
    import typer

    @app.command("update", help="Update Device OS on a device via USB")
    def update(
        ctx: typer.Context,
        devices: Optional[List[str]] = typer.Argument(None, metavar="[device...]",
                                                      help="Device id or name (several: all at once)"),
        target: Optional[str] = typer.Option(None, "--target",
                                             help="The Device OS version to update. Defaults to the newest "
                                                  "release particle-py knows for the platform."),
        from_paths: List[str] = typer.Option([], "--from", metavar="PATH",
                                             help="A folder or .zip holding the Device OS files, or a restore "
                                                  "bundle (--save-bundle) (no download)"),
        no_download: bool = typer.Option(False, "--no-download",
                                         help="Use only the cache and --from, never the network"),
        save_bundle: Optional[str] = typer.Option(None, "--save-bundle", metavar="FILE",
                                                  help="Write nothing to the device: save one file with "
                                                       "everything its restore needs, for `update --from FILE` "
                                                       "on a computer with no network"),
        platform: Optional[str] = typer.Option(None, "--platform",
                                               help="With --save-bundle: the platform (no device needed); with "
                                                    "--all: only devices of this platform"),
        every: bool = typer.Option(False, "--all", help="Every matching device attached (at once)"),
        mode: Optional[str] = typer.Option(None, "--mode", help="With --all: only devices in this mode: normal, "
                                                                "dfu or listening"),
    ):
        from particle_py.errors import ParticlePyError
        from particle_py.ops import update as update_ops

        devices = list(devices or [])
        if (every or len(devices) > 1) and save_bundle is None:
            _update_batch(ctx, devices, every, platform, mode, target, from_paths, no_download)
            return
        if len(devices) > 1:
            from particle_py.errors import EX_USAGE

            raise ParticlePyError("A restore bundle is saved for one device (or --platform)",
                                  "Name one device, or give --platform instead of devices.", EX_USAGE)
        device = devices[0] if devices else None

        if save_bundle is not None or platform is not None:
            _save_bundle(ctx, save_bundle, device, platform, target, from_paths, no_download)
            return

        shape = _shape(device, target)
        echo = typer.echo
        if target is not None:
            from particle_py.firmware.releases import is_version

            if not is_version(target):
                # particle-cli 3.14+ prints this and exits 0; a failed update must not look like success.
                raise ParticlePyError(f"Invalid version: {target}",
                                      "Give a Device OS version such as 2.3.1; nothing was written.", 1)
        device_id = None
        if device:
            from particle_py.ops.usb_commands import resolve

            device_id = resolve(device)

        from particle_py.cli import render
        from particle_py.cli.particle.flash import FlashReporter

        class UpdateReporter(FlashReporter):
            def is_start(self, line: str) -> bool:
                return line.startswith("Flashing ")

            def on_result(self, event) -> None:
                if event.kind != update_ops.PLAN:
                    return
                plan = event.data
                if shape == SHAPE_TARGET:
                    what = f"to Device OS version {plan['version']}" if target else "to latest Device OS version"
                    echo(f"Updating {plan['platform']} {device or plan['device_id']} {what}")
                elif shape == SHAPE_DFU:
                    echo("")
                    echo("> Your device is ready for a system update.")
                    echo("> This process should take about 30 seconds. Here it goes!")
                    echo("")
                else:
                    echo("> This process may take a few minutes. Here it goes!")
                if plan.get("chosen"):
                    echo(f"No --target given: Device OS {plan['version']} is {plan['chosen']}.")
                echo(f"Device OS {plan['version']} for {plan['platform_name']} {plan['device_id']}:")
                for line in plan["steps"]:
                    echo(f"  {line}")

        reporter = UpdateReporter(verbose=render.verbose(ctx))
        try:
            result = update_ops.update(device_id, target=target, paths=from_paths, allow_download=not no_download,
                                       reporter=reporter)
            from particle_py.cli.runner import work_done

            work_done()         # updated: a signal now cannot turn the outcome into 130
        except ParticlePyError:
            reporter.close()
            if reporter.started:
                if shape == SHAPE_TARGET:
                    echo("Flash failed.")
                else:
                    echo("! An error occurred while attempting to update the system firmware of your device:")
            raise
        except KeyboardInterrupt:
            reporter.close()
            raise
        reporter.close()
        if result.verified_by == "module info":
            echo("Verified: Device OS reports every written module intact (module info).")
        elif result.verified_by == "read-back":
            echo("Verified: every written module read back from flash.")
        if result.up_to_date:
            echo(f"Device OS {result.version} is already on the device: nothing to write.")
        if shape == SHAPE_TARGET:
            if result.written:
                echo("Flash success!")           # particle-cli 3.14+'s flashFiles line, then its own
            echo("Update success!")
        else:
            echo("! System firmware update successfully completed!")
            echo("")
            if result.left_dfu or result.written:
                echo("> Your device should now restart automatically.")


def _update_batch(ctx, devices, every, platform, mode, target, from_paths, no_download) -> None:
    """`particle update --all` (or several devices): Device OS on every selected device at once,
    a line per device."""
    from particle_py.cli.particle import selection
    from particle_py.ops import update as update_ops

    def work(entry, reporter) -> str:
        result = update_ops.update(entry.device_id, target=target, paths=from_paths,
                                   allow_download=not no_download, reporter=reporter)
        if result.up_to_date:
            return f"Device OS {result.version} already there"
        return f"Device OS {result.version} written"
    selection.run_selected(ctx, devices, every, platform, mode, action="update", single=None,
                           work=work, retry=lambda e: f"particle update {e.device_id}")


def _save_bundle(ctx, path: Optional[str], device: Optional[str], platform: Optional[str], target: Optional[str],
                 from_paths, no_download: bool) -> None:
    import typer

    from particle_py.cli import render
    from particle_py.errors import EX_USAGE, ParticlePyError
    from particle_py.ops import update as update_ops

    if path is None:
        raise ParticlePyError("--platform is for --save-bundle",
                              "Give the file to write: particle update --save-bundle FILE --platform "
                              f"{platform}.", EX_USAGE)
    device_id = None
    if device and not platform:
        from particle_py.ops.usb_commands import resolve

        device_id = resolve(device)
    reporter = render.TextReporter(verbose=render.verbose(ctx))
    try:
        saved = update_ops.save_bundle(path, device_id, platform_name=platform, target=target, paths=from_paths,
                                       allow_download=not no_download, reporter=reporter)
    finally:
        reporter.close()
    echo = typer.echo
    echo(f"Saved Device OS {saved.version} for {saved.platform.display_name} to {saved.path} ({saved.size} bytes):")
    for name, role, size in saved.files:
        echo(f"  {name} ({role}, {size} bytes)")
    for name, why in saved.left_out:
        echo(f"  left out: {name} ({why})")
    echo(f"Restore with: particle update --from {saved.path} (no network needed)")
