"""The device-selection options every device command shares, and how a command runs on them.

``options()`` gives a command its ``--all``, ``--platform`` and ``--mode`` options (the ids are
the command's own argument). ``run_selected`` keeps a single device exactly as it was (the
command's own single-device path, its own output), and runs a batch (--all, several ids, a
filter) through ``ops.batch`` with a line per device and the summary table at the end.
"""
from __future__ import annotations

import sys
from typing import Callable, List, Optional


def options():
    """(--all, --platform, --mode) as typer options, for a command's signature."""
    import typer

    return (typer.Option(False, "--all", help="Every matching device attached (at once)"),
            typer.Option(None, "--platform", help="Only devices of this platform (photon, argon, ...)"),
            typer.Option(None, "--mode", help="Only devices in this mode: normal, dfu or listening"))


def is_batch(ids: List[str], every: bool, platform: Optional[str], mode: Optional[str]) -> bool:
    return every or len(ids or ()) > 1 or platform is not None or mode is not None


def run_if_batch(ctx, ids: List[str], every: bool, platform: Optional[str], mode: Optional[str], *,
                 action: str, work: Callable, retry: Callable) -> bool:
    """The batch form of a command whose single-device path stays its own code: ``work`` on the
    selected devices at once when a batch was asked for (True), else nothing (False)."""
    if not is_batch(ids, every, platform, mode):
        return False
    run_selected(ctx, ids, every, platform, mode, action=action, single=None, work=work, retry=retry)
    return True


def run_selected(ctx, ids: List[str], every: bool, platform: Optional[str], mode: Optional[str], *,
                 action: str, single: Callable[[Optional[str]], Optional[int]],
                 work: Callable, retry: Optional[Callable] = None, need_dfu: bool = False) -> Optional[int]:
    """``single(device_id)`` for one device named or none (today's path, unchanged); else
    ``work(entry, reporter)`` on every selected device at once. Returns the exit status."""
    import typer

    from particle_py.cli import render
    from particle_py.cli.particle.prompts import usb_chooser
    from particle_py.ops import batch, discovery

    ids = list(ids or ())
    if not is_batch(ids, every, platform, mode):
        return single(ids[0] if ids else None)
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    chosen = discovery.select_devices(discovery.Selection(tuple(ids), every, platform, mode),
                                      choose=usb_chooser() if interactive else None, need_dfu=need_dfu)

    class Summary(render.TextReporter):
        def on_result(self, event) -> None:
            if event.kind == "batch":
                for line in render.summary_table(event.data):
                    typer.echo(line)

    reporter = Summary(verbose=render.verbose(ctx))
    summary = batch.run_batch(chosen, work, action=action, reporter=reporter,
                              reporter_for=render.device_reporters(verbose=render.verbose(ctx)), retry=retry)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)
    return 0
