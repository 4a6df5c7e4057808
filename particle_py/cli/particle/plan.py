"""`particle plan run FILE [devices...] [--all]` and `particle plan show FILE`: a repair recorded
with `--save-plan FILE` (cli/particle/main.py), done again on other devices (docs/plans.md)."""
from __future__ import annotations

from typing import List, Optional

import typer


def _read(path: str):
    from particle_py.errors import ParticlePyError
    from particle_py.ops import plan as plans

    try:
        with open(path, "rb") as f:
            raw = f.read(plans.MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise ParticlePyError(f"Cannot read the plan {path}: {exc.strerror}.",
                              "Give the file --save-plan wrote.", 66) from None
    return plans.parse(raw)


def _describe(plan) -> list[str]:
    lines = [f"Plan: particle {plan.command} {' '.join(plan.args)}".rstrip(),
             f"  does: {plan.does}",
             f"  for: {plan.platform}" + (f", Device OS {plan.device_os}" if plan.device_os else "")]
    lines += [f"  file: {f.name} sha256 {f.sha256}" for f in plan.files]
    return lines


class _ThreadLines:
    """sys.stdout / sys.stderr while a plan replays: a replaying thread's lines go to its device's
    reporter (prefixed there), any other thread's to the stream as before."""

    def __init__(self, stream, local, kind: str):
        self.stream, self.local, self.kind = stream, local, kind

    def write(self, text: str) -> int:
        sink = getattr(self.local, "sink", None)
        if sink is None:
            return self.stream.write(text)
        sink(self.kind, text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False                        # a replay prints plain lines: no bars, no questions

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _OwnRowsOnly:
    """The batch's events minus its device rows and summary: plan run reports its own (with the
    plan's platform names and the refused devices beside the replayed ones)."""

    def __init__(self, inner):
        self.inner = inner

    def emit(self, event) -> None:
        from particle_py import events

        if not isinstance(event, (events.DeviceState, events.Result)):
            self.inner.emit(event)

    def close(self) -> None:
        pass


def _replay_at_once(ctx, plan, targets: list, reporter) -> list[dict]:
    """The recorded command on every target at once (ops.batch: a thread a device, each scoped
    to its own device), through the whole front end with its single-device path, output and
    errors unchanged; each device's lines prefixed with its id and port. Returns the outcomes."""
    import sys
    import threading

    from particle_py.cli import render
    from particle_py.cli.particle.main import build_app
    from particle_py.errors import ParticlePyError
    from particle_py.ops import batch, discovery

    entries = discovery.select_devices(discovery.Selection(tuple(t.device_id for t in targets)))
    platforms = {t.device_id: t.platform for t in targets}
    local = threading.local()
    app = build_app()

    def work(entry, device_reporter) -> str:
        pending = {"out": "", "err": ""}

        def sink(kind: str, text: str) -> None:
            pending[kind] += text
            *lines, pending[kind] = pending[kind].split("\n")
            local.sink = None           # the device's reporter writes to the real stream
            try:
                for line in lines:
                    if line.strip():
                        (device_reporter.step if kind == "out" else device_reporter.warning)(line)
            finally:
                local.sink = sink
        local.sink = sink
        argv = plan.args_for(entry.device_id)
        try:
            try:
                code = app(args=argv, prog_name="particle", standalone_mode=False) or 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        finally:
            for kind in ("out", "err"):
                sink(kind, "\n")
            local.sink = None
        if code:
            raise ParticlePyError(f"particle {' '.join(argv)} exited {code}", f"`particle {' '.join(argv)}`", code)
        return "done"

    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ThreadLines(out, local, "out"), _ThreadLines(err, local, "err")
    try:
        summary = batch.run_batch(entries, work, action="plan run", reporter=_OwnRowsOnly(reporter),
                                  reporter_for=render.device_reporters(verbose=render.verbose(ctx)),
                                  retry=lambda e: f"particle {' '.join(plan.args_for(e.device_id))}")
    finally:
        sys.stdout, sys.stderr = out, err
    return [{"device_id": o.device_id, "platform": platforms.get(o.device_id, o.platform),
             "result": "done" if o.result == batch.OK else o.result, "why": o.message,
             "next": o.finish if o.result != batch.OK else ""} for o in summary.outcomes]


def register(app) -> None:
    plan_app = typer.Typer(name="plan", help="Do a recorded repair (--save-plan FILE) again on other devices",
                           no_args_is_help=True)

    @plan_app.command("show", help="Say what a plan file does")
    def show(path: str = typer.Argument(..., metavar="FILE")):
        from particle_py import events
        from particle_py.cli import render

        plan = _read(path)
        reporter = render.TextReporter()
        for line in _describe(plan):
            reporter.step(line)
        reporter.emit(events.Result("plan", plan.as_json()))

    @plan_app.command("run", help="Do a recorded repair on these devices (or --all), all at once")
    def run(ctx: typer.Context, path: str = typer.Argument(..., metavar="FILE"),
            devices: Optional[List[str]] = typer.Argument(None, metavar="[devices...]"),
            all_: bool = typer.Option(False, "--all", help="Every connected device")):
        from particle_py import events
        from particle_py.cli import render
        from particle_py.errors import ParticlePyError
        from particle_py.ops import plan as plans

        plan = _read(path)
        plans.check_files(plan)             # before any device
        reporter = render.TextReporter(verbose=render.verbose(ctx))
        targets = plans.replay_targets(list(devices or []), all_)
        outcomes, runnable = [], []
        for target in targets:
            reporter.emit(events.DeviceState(target.device_id, target.platform, target.mode,
                                             f"Device OS {target.device_os}" if target.device_os else ""))
            why = plans.refusal(plan, target.platform, target.device_os)
            if why:
                outcomes.append({"device_id": target.device_id, "platform": target.platform, "result": "refused",
                                 "why": why, "next": ""})
                continue
            reporter.step(f"== {target.device_id} ({target.platform}): particle {' '.join(plan.args_for(target.device_id))}")
            runnable.append(target)
        if runnable:
            outcomes += _replay_at_once(ctx, plan, runnable, reporter)
        reporter.step("Plan summary:")
        for o in outcomes:
            reporter.step(f"  {o['device_id']}  {o['platform']}  {o['result']}"
                          + (f": {o['why']}" if o["why"] else "") + (f"  (next: {o['next']})" if o["next"] and o["result"] != "refused" else ""))
        reporter.emit(events.Result("plan run", {"plan": plan.as_json(), "devices": outcomes}))
        failed = sum(o["result"] != "done" for o in outcomes)
        if failed:
            raise ParticlePyError(f"The plan did not finish on {failed} of {len(outcomes)} devices.",
                                  "The summary names each one and what to run next.", 1)

    app.add_typer(plan_app)
