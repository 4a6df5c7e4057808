"""`particle doctor` as a library call: diagnose, then repair only what is broken, then check.

The front end supplies ``reporter`` (its lines, as events.Step), ``ask`` (Continue / Skip / Exit for a step;
None = run every step), ``ask_wifi`` (serial wifi's prompts, on a terminal) and prints the
``Report``. Every outcome is a state the report
describes: what ran, what was skipped or could not run and why, what the device now holds,
and the LED it shows. Nothing is called repaired unless a fresh read of the device says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from particle_py import events
from particle_py.doctor import diagnose as diag
from particle_py.doctor import repair
from particle_py.doctor.findings import LED
from particle_py.errors import Interrupted, ParticlePyError

Ask = Callable[[repair.RepairStep, str], str]      # -> 'continue' | 'skip' | 'exit'

FORUM_ADVICE = ("If it does not, post the output of `particle doctor --dry-run --json` (it holds no keys or "
                "tokens) in a thread at https://community.particle.io/")


# steps after which the cloud holds the device's key, or has seen the device online
CLOUD_PROVING = ("keys_doctor", "send_key", "claim")
CLOUD_UNKNOWNS = frozenset({diag.CLOUD_KEY_UNKNOWN, "not_logged_in", "cloud_unreachable", "cloud_not_asked"})
NOTHING_CHANGED = "Nothing was changed on the device."
THIS_STEP_NOTHING = "This step changed nothing on the device."


@dataclass
class StepOutcome:
    name: str
    title: str
    status: str                    # done, skipped, unavailable, failed, not-run
    message: str = ""

    def as_json(self) -> dict:
        out = {"name": self.name, "title": self.title, "status": self.status}
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class Report:
    diagnosis: diag.Diagnosis
    dry_run: bool
    steps: list = field(default_factory=list)
    after: Optional[diag.Diagnosis] = None         # a fresh read after the repairs
    exited: bool = False
    seen_online: bool = False                      # the cloud saw the restarted device online

    @property
    def planned(self) -> bool:
        return bool(self.steps)

    @property
    def remaining(self) -> list:
        """Problems still there after the repairs (or all of them on a dry run)."""
        if self.dry_run or self.after is None:
            return self.diagnosis.problems
        left = list(self.after.problems)
        for outcome in self.steps:
            if outcome.name in repair.AFTER_RESTART and outcome.status != "done":
                left += [f for f in self.diagnosis.problems if f.repair == outcome.name]
        return left

    @property
    def repaired(self) -> bool:
        return not self.dry_run and not self.remaining and not self.exited

    def expected_led(self) -> str:
        if self.dry_run or self.after is None:
            return self.diagnosis.led_now()
        led = self.after.led_after_boot()
        # A fresh read sees the device side only. What the cloud takes was unknown before the
        # repairs and stays unknown unless a step told the cloud the key or saw the device online.
        told = self.seen_online or any(o.status == "done" for o in self.steps if o.name in CLOUD_PROVING)
        unknown = {f.code for f in self.diagnosis.findings} & CLOUD_UNKNOWNS
        if led == LED["connected"] and unknown and not told:
            return (f"{LED['connected']} if the cloud holds the device's public key, else "
                    f"{LED['decryption_error']}")
        return led

    def as_json(self) -> dict:
        out = {"diagnosis": self.diagnosis.as_json(), "dry_run": self.dry_run,
               "repairs": [s.as_json() for s in self.steps],
               "not_available": [{"step": name, "why": why} for name, why in repair.NOT_AVAILABLE]}
        if self.after is not None:
            out["after"] = self.after.as_json()
        out["expected_led"] = self.expected_led()
        out["remaining"] = [f.code for f in self.remaining]
        out["repaired"] = self.repaired
        return out


def _verify(device_id: str, ctx: repair.Context) -> diag.Diagnosis:
    """Read the device again (device side only: the cloud needs time to see a restarted device),
    then restart it so it boots from what it now holds."""
    device, mode = diag.open_for_reading(device_id, ctx.reporter)
    try:
        after, _key = diag.read_device(device, mode, server_key_file=ctx.server_key_file, host=ctx.host,
                                       port=ctx.port, settings=ctx.settings)
        device.reset(leave=True)
    finally:
        device.close()
    return after


def _restart(device_id: str) -> None:
    from particle_py.ops import device as dev_ops
    from particle_py.ops import discovery

    entry = discovery.find_device(device_id)
    device = dev_ops.ParticleDfuDevice(entry)
    try:
        device.reset(leave=True)
    finally:
        device.close()


def run(device_id: Optional[str] = None, *, dry_run: bool = False, ask: Optional[Ask] = None,
        reporter: events.Reporter = events.QUIET, on_diagnosis: Optional[Callable[[diag.Diagnosis], None]] = None,
        server_key_file: Optional[str] = None, host: Optional[str] = None, port: Optional[int] = None,
        settings=None, ask_wifi: Optional[Callable[[str], str]] = None, paths=(),
        allow_download: bool = True) -> Report:
    from particle_py.cloud.config import Settings

    settings = settings or Settings()
    diagnosis = diag.diagnose(device_id, reporter=reporter, server_key_file=server_key_file, host=host, port=port,
                              settings=settings, leave_dfu=dry_run)
    if on_diagnosis:
        on_diagnosis(diagnosis)
    report = Report(diagnosis, dry_run)
    if dry_run:
        return report
    if not diagnosis.id_known and diagnosis.problems:
        # backups, claims and key uploads are named by the id: none is made under a serial
        # that every such bootloader reports
        raise ParticlePyError(f"The doctor does not know this device's id: {diagnosis.why_no_id()}.",
                              "Nothing was written. " + diag.ID_UNKNOWN_HINT)
    ctx = repair.Context(diagnosis.device_id, diagnosis.platform, reporter, server_key_file, host, port, settings,
                         interactive=ask is not None, ask_wifi=ask_wifi, paths=tuple(paths),
                         allow_download=allow_download)
    steps = repair.plan(diagnosis.findings)
    report.steps = [StepOutcome(s.name, s.title, "not-run") for s in steps]

    def run_step(step: repair.RepairStep, outcome: StepOutcome) -> bool:
        """False when the doctor must stop (the user chose Exit)."""
        if step.needs_login and not diagnosis.logged_in:
            outcome.status = "unavailable"
            outcome.message = "needs a login: run `particle login`, then the doctor again"
            reporter.step(f"{step.title}: not possible without a login (run `particle login`, then "
                          "`particle doctor` again)")
            return True
        writes = repair.describe(step, ctx)
        choice = ask(step, writes) if ask else "continue"
        if choice == "exit":
            report.exited = True
            if diagnosis.start_mode != "DFU":
                _restart(diagnosis.device_id)       # leave it running, as it was found
            return False
        if choice == "skip":
            outcome.status = "skipped"
            return True
        reporter.step(f"{step.title}: {writes}")
        try:
            step.run(ctx)
        except repair.StepUnavailable as err:
            outcome.status, outcome.message = "unavailable", err.message
            reporter.step(f"{step.title}: not possible here. {err.message}")
            if err.hint:
                reporter.step(err.hint)
            return True
        except ParticlePyError as err:
            outcome.status, outcome.message = "failed", err.message
            raise _stopped(report, step, err) from None
        outcome.status = "done"
        return True

    pairs = list(zip(steps, report.steps))
    before = [(s, o) for s, o in pairs if s.name not in repair.AFTER_RESTART]
    after = [(s, o) for s, o in pairs if s.name in repair.AFTER_RESTART]
    current = {"step": None}
    try:
        for step, outcome in before:
            current["step"] = step
            if not run_step(step, outcome):
                return report
        current["step"] = None
        reporter.step("Checking the device again")
        report.after = _verify(diagnosis.device_id, ctx)
        if not report.after.problems and _cloud_unknown(diagnosis):
            report.seen_online = _seen_online(diagnosis.device_id, settings)
        if not report.after.problems:
            for step, outcome in after:
                current["step"] = step
                if not run_step(step, outcome):
                    return report
    except Interrupted as sig:
        # a signal between the steps' own reports: still say what was done and what was not
        raise _interrupted(report, current["step"], sig) from None
    return report


def _cloud_unknown(diagnosis: diag.Diagnosis) -> bool:
    return diagnosis.logged_in and diagnosis.id_known and any(f.code == diag.CLOUD_KEY_UNKNOWN
                                                              for f in diagnosis.findings)


def _seen_online(device_id: str, settings) -> bool:
    """Whether the cloud sees the restarted device online (a restarted device needs a few seconds
    to connect): then the cloud holds its key. A device it does not show (not claimed) says nothing."""
    from particle_py import usb as transport

    for attempt in range(repair.CLAIM_ATTEMPTS):
        body, err = diag.ask_cloud(device_id, settings)
        if body is not None and body["connected"]:
            return True
        if err is not None and getattr(err, "status", 0) in (401, 403, 404):
            return False
        if attempt < repair.CLAIM_ATTEMPTS - 1:
            transport.sleep_ms(repair.CLAIM_WAIT_MS)
    return False


def _interrupted(report: Report, step: Optional[repair.RepairStep], sig: Interrupted) -> ParticlePyError:
    done = [o.title for o in report.steps if o.status == "done"]
    not_done = [o.title for o in report.steps if o.status != "done"]
    where = f" during \"{step.title}\"" if step is not None else ""
    lines = ["Done before it: " + (", ".join(done) if done else "nothing")]
    if not_done:
        lines.append("Not done: " + ", ".join(not_done))
    lines.append("The device is not repaired. Run `particle doctor` again to finish.")
    stopped = ParticlePyError(f"{sig.label}: the doctor stopped{where}.", "\n".join(lines), sig.exit_code)
    stopped.report = report
    return stopped


def _stopped(report: Report, step: repair.RepairStep, err: ParticlePyError) -> ParticlePyError:
    done = [o.title for o in report.steps if o.status == "done"]
    not_done = [o.title for o in report.steps if o.status not in ("done", "failed")]
    lines = []
    hint, message = err.hint, err.message
    if done:
        # the step's own words are about the step: earlier steps did change the device
        hint = hint.replace(NOTHING_CHANGED, THIS_STEP_NOTHING) if hint else hint
        message = message.replace(NOTHING_CHANGED, THIS_STEP_NOTHING)
    if hint:
        lines.append(hint)
    lines.append("Done before it: " + (", ".join(done) if done else "nothing"))
    if not_done:
        lines.append("Not done: " + ", ".join(not_done))
    lines.append("The device is not repaired. " + FORUM_ADVICE.replace("If it does not, post", "Post"))
    stopped = ParticlePyError(f"The doctor stopped at \"{step.title}\": {message}", "\n".join(lines),
                              err.exit_code or 1)
    stopped.report = report         # the front end can still print it (--json)
    return stopped

