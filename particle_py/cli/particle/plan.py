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

    @plan_app.command("run", help="Do a recorded repair on these devices (or --all), one after another")
    def run(ctx: typer.Context, path: str = typer.Argument(..., metavar="FILE"),
            devices: Optional[List[str]] = typer.Argument(None, metavar="[devices...]"),
            all_: bool = typer.Option(False, "--all", help="Every connected device")):
        from particle_py import events
        from particle_py.cli import render
        from particle_py.cli.particle.main import build_app
        from particle_py.errors import ParticlePyError
        from particle_py.ops import plan as plans

        plan = _read(path)
        plans.check_files(plan)             # before any device
        reporter = render.TextReporter(verbose=render.verbose(ctx))
        targets = plans.replay_targets(list(devices or []), all_)
        outcomes = []
        app = build_app()
        for target in targets:
            reporter.emit(events.DeviceState(target.device_id, target.platform, target.mode,
                                             f"Device OS {target.device_os}" if target.device_os else ""))
            why = plans.refusal(plan, target.platform, target.device_os)
            if why:
                outcomes.append({"device_id": target.device_id, "platform": target.platform, "result": "refused",
                                 "why": why, "next": ""})
                continue
            reporter.step(f"== {target.device_id} ({target.platform}): particle {' '.join(plan.args_for(target.device_id))}")
            argv = plan.args_for(target.device_id)
            try:
                code = app(args=argv, prog_name="particle", standalone_mode=False) or 0
                outcome = {"result": "done" if not code else f"exit {code}", "why": "", "next": ""}
            except ParticlePyError as err:
                outcome = {"result": "failed", "why": err.message, "next": err.hint or ""}
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
                outcome = {"result": "done" if not code else f"exit {code}", "why": "", "next": ""}
            if outcome["result"] != "done" and not outcome["next"]:
                outcome["next"] = f"particle {' '.join(argv)}"
            outcomes.append({"device_id": target.device_id, "platform": target.platform, **outcome})
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
