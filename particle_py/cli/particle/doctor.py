"""`particle doctor` (also `particle device doctor`) and `particle help [command]`.

The work is in particle_py.doctor; this module prints the diagnosis, asks before each repair on a
terminal, and prints the outcome (or JSON with --json).
"""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

DOCTOR_HELP = ("Say why your device does not connect, from what it holds, then repair only what is broken "
               "(Device OS, app, keys, claim)")
MODE_WORDS = {"NORMAL": "running its firmware", "SAFE": "in safe mode", "LISTENING": "in listening mode",
              "DFU": "in DFU mode", "UNKNOWN": "running its firmware"}


def _json_report(report) -> None:
    """The report as the envelope's result; its keys also stay at the envelope's top level, where
    schema 1 (doctor's lone report) had them, so scripts written for it read on (docs/json.md)."""
    from particle_py import events
    from particle_py.cli import render

    data = report.as_json()
    session = render.json_session()
    session.extra.update(data)
    session.emit(events.Result("doctor", data))


def _doctor(device: Optional[str], verbose: bool, dry_run: bool, yes: bool, as_json: bool, server_key: Optional[str],
            host: Optional[str], port: Optional[int], from_paths=(), no_download: bool = False) -> int:
    from particle_py import events
    from particle_py.cli import render
    from particle_py.doctor import repair
    from particle_py.doctor import run as doctor_run
    from particle_py.errors import EX_USAGE, ParticlePyError

    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if not dry_run and not yes and not interactive:
        raise ParticlePyError("particle doctor asks before each repair, and there is no terminal to ask on.",
                              "Run `particle doctor --dry-run` to see what is wrong, or `particle doctor --yes` to "
                              "repair without asking.", EX_USAGE)

    def say(text: str) -> None:
        typer.echo(text, err=as_json)

    def show(diagnosis) -> None:
        say(f"Device: {diagnosis.platform.display_name} {diagnosis.name()}, "
            f"{MODE_WORDS.get(diagnosis.start_mode, 'running its firmware')}"
            + (f", protocol {diagnosis.protocol.upper()}" if diagnosis.protocol else ""))
        for finding in diagnosis.findings:
            say(f"  {'FAIL' if finding.problem else '?   ' if finding.unknown else 'ok  '} {finding.line()}")
        if diagnosis.needs_login:
            say("Needs a login to check: " + "; ".join(diagnosis.needs_login))
        say(f"LED now: {diagnosis.led_now()}")
        steps = repair.plan(diagnosis.findings)
        say("Repairs needed: " + (", ".join(s.title for s in steps) if steps else "none"))

    def ask(step, writes: str) -> str:
        sys.stderr.write(f"\n{step.title}: {writes}\n")
        while True:
            sys.stderr.write("Continue, Skip or Exit? [c/s/e] ")
            sys.stderr.flush()
            answer = sys.stdin.readline()
            if not answer:
                return "exit"
            choice = {"c": "continue", "s": "skip", "e": "exit"}.get(answer.strip().lower()[:1])
            if choice:
                return choice

    say("Reading the device (particle-py switches it to DFU mode to read its memory)")
    # with --json, stdout holds the report alone: the steps go to stderr with the rest of the story
    reporter = render.TextReporter(verbose=verbose, out=say)
    if as_json:
        class StoryToo(render.TextReporter):
            # with --json the story also stays on stderr, where doctor printed it under schema 1
            def emit(self, event) -> None:
                super().emit(event)
                if isinstance(event, events.Step):
                    say(event.text)
        reporter = StoryToo(verbose=verbose, out=say)
    try:
        from particle_py.cli.particle.serial import _ask_wifi

        report = doctor_run.run(device, dry_run=dry_run, ask=None if yes else ask, reporter=reporter,
                                on_diagnosis=show, server_key_file=server_key, host=host, port=port,
                                ask_wifi=None if yes else _ask_wifi, paths=tuple(from_paths),
                                allow_download=not no_download)
    except ParticlePyError as err:
        if as_json and getattr(err, "report", None) is not None:
            _json_report(err.report)
        raise
    finally:
        reporter.close()
    if as_json:
        _json_report(report)
    if dry_run:
        say("Not offered (particle-cli's Device Doctor app steps):")
        for name, why in repair.NOT_AVAILABLE:
            say(f"  {name}: {why}")
        say("Dry run: nothing was written." + (" Run `particle doctor` to repair." if report.remaining else ""))
        return 0
    if report.exited:
        done = [s.title for s in report.steps if s.status == "done"]
        say("Stopped. Done: " + (", ".join(done) if done else "nothing") + ". The device is not repaired.")
        return 1
    if report.repaired:
        if not report.steps:
            say("Nothing to repair.")
        say(f"The device should now show: {report.expected_led()}.")
        say(doctor_run.FORUM_ADVICE)
        return 0
    say("Not repaired:")
    for finding in report.remaining:
        say(f"  {finding.line()}")
    for outcome in report.steps:
        if outcome.status in ("skipped", "unavailable"):
            say(f"  {outcome.title}: {outcome.status}{' (' + outcome.message + ')' if outcome.message else ''}")
    say(f"The device will show: {report.expected_led()}.")
    say(doctor_run.FORUM_ADVICE.replace("If it does not, post", "Post"))
    return 1


def _doctor_batch(ctx, device, every, platform, mode, dry_run, yes, server_key, host, port, from_paths,
                  no_download) -> int:
    """`particle doctor --yes --all` (or --dry-run): every selected device at once, each device's
    diagnosis and repairs in its own lines, and the summary table."""
    from particle_py.cli.particle import selection
    from particle_py.doctor import run as doctor_run
    from particle_py.errors import EX_USAGE, ParticlePyError

    if not dry_run and not yes:
        raise ParticlePyError("particle doctor on several devices repairs without asking, so it needs --yes.",
                              "Run `particle doctor --dry-run --all` to see what is wrong, or add --yes to "
                              "repair every device.", EX_USAGE)

    def work(entry, reporter) -> str:
        def show(diagnosis) -> None:
            reporter.step("Device: " + diagnosis.platform.display_name + " " + diagnosis.name() + ", "
                          + MODE_WORDS.get(diagnosis.start_mode, "running its firmware"))
            for finding in diagnosis.findings:
                reporter.step(f"  {'FAIL' if finding.problem else '?   ' if finding.unknown else 'ok  '} "
                              + finding.line())
        report = doctor_run.run(entry.device_id, dry_run=dry_run, ask=None, reporter=reporter, on_diagnosis=show,
                                server_key_file=server_key, host=host, port=port, ask_wifi=None,
                                paths=tuple(from_paths), allow_download=not no_download)
        if dry_run:
            return "diagnosed: " + (", ".join(f.line().split(":")[0] for f in report.remaining) or "nothing wrong")
        if report.repaired:
            done = [s.title for s in report.steps if s.status == "done"]
            reporter.step(f"The device should now show: {report.expected_led()}.")
            return ("repaired: " + ", ".join(done)) if done else "nothing to repair"
        raise ParticlePyError("Not repaired: " + "; ".join(f.line() for f in report.remaining),
                              f"See `particle doctor --dry-run {entry.device_id}`.")

    return selection.run_selected(ctx, device, every, platform, mode,
                                  action="doctor", single=None, work=work,
                                  retry=lambda e: f"particle doctor --yes {e.device_id or '--all'}") or 0


def _select_options():
    from particle_py.cli.particle import selection
    return selection.options()


_SELECT = _select_options()


def _doctor_command(ctx: typer.Context,
                    devices: Optional[List[str]] = typer.Argument(None, metavar="[device]...",
                                                                  help="Device ids (default: the one connected by "
                                                                       "USB); several work on all at once"),
                    dry_run: bool = typer.Option(False, "--dry-run", help="Only diagnose: write nothing"),
                    yes: bool = typer.Option(False, "--yes", "-y", help="Repair without asking"),
                    server_key: Optional[str] = typer.Option(None, "--server-key",
                                                             help="Your own cloud's server public key (DER or "
                                                                  "PEM), instead of Particle's"),
                    host: Optional[str] = typer.Option(None, "--host", help="Your own cloud's host (with "
                                                                            "--server-key)"),
                    port: Optional[int] = typer.Option(None, "--port", help="Your own cloud's port (with "
                                                                            "--server-key)"),
                    from_paths: List[str] = typer.Option([], "--from", metavar="PATH",
                                                         help="A folder or .zip holding the Device OS files, or a "
                                                              "restore bundle, for the Device OS repair (as "
                                                              "particle update --from)"),
                    no_download: bool = typer.Option(False, "--no-download",
                                                     help="Download nothing: a Device OS repair needs --from or "
                                                          "cached files; the other repairs still run"),
                    every: bool = _SELECT[0], platform: Optional[str] = _SELECT[1],
                    mode: Optional[str] = _SELECT[2]):
    from particle_py.cli import render
    from particle_py.cli.particle import selection

    # --json is every command's (cli/particle/main.py): here the report is its result
    as_json = render.json_session() is not None
    devices = list(devices or [])
    if selection.is_batch(devices, every, platform, mode):
        code = _doctor_batch(ctx, devices, every, platform, mode, dry_run, yes, server_key, host, port,
                             from_paths, no_download)
        if code:
            raise SystemExit(code)
        return
    code = _doctor(devices[0] if devices else None, render.verbose(ctx), dry_run, yes, as_json, server_key,
                   host, port, from_paths,
                   no_download)
    if code:
        raise SystemExit(code)      # click's Exit would be swallowed in non-standalone mode


def register(app) -> None:
    app.command("doctor", help=DOCTOR_HELP)(_doctor_command)
    # `particle device doctor`, as particle-cli 1.24-3.20 also named it
    for group in app.registered_groups:
        if group.name == "device" and group.typer_instance is not None:
            group.typer_instance.command("doctor", help=DOCTOR_HELP)(_doctor_command)

    @app.command("help", help="Show the help of a command: particle help keys server")
    def help_command(command: Optional[List[str]] = typer.Argument(None, metavar="[command]")):
        from particle_py.cli.particle.main import main

        code = main([*(command or []), "--help"])
        if code:
            raise SystemExit(code)
