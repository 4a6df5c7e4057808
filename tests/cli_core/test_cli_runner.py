"""cli/runner.py in the test process: what a front end's work can end with, and the signal
handling it installs (real signals, raised in this process)."""
from __future__ import annotations

import signal

import pytest

from particle_py import errors
from particle_py.cli import runner


def _run(capsys, work, **kw):
    code = runner.run(work, prog="particle", process=False, **kw)
    out, err = capsys.readouterr()
    return code, out, err


def test_an_unexpected_exception_is_one_line_and_status_70(capsys, monkeypatch):
    monkeypatch.delenv(runner.DEBUG_ENV, raising=False)

    def work():
        {}["missing"]
    code, out, err = _run(capsys, work)
    assert code == 70 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("particle: internal error (KeyError: 'missing'). This is a bug in particle-py; please "
                          "report it")
    assert err.endswith(f"the same command run with {runner.DEBUG_ENV}=1.\n")


def test_the_debug_variable_adds_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv(runner.DEBUG_ENV, "1")

    def work():
        raise RuntimeError("boom")
    code, _, err = _run(capsys, work)
    assert code == 70
    assert err.startswith("Traceback (most recent call last):\n") and "RuntimeError: boom\n" in err
    assert "\nparticle: internal error (RuntimeError: boom). This is a bug in particle-py; please report it" in err
    assert err.endswith(f"with the command you ran and the output of the same command run with {runner.DEBUG_ENV}=1.\n")


def test_an_error_is_reported_with_its_hint_and_status(capsys):
    def work():
        raise errors.ParticlePyError("No device found.", "Plug it in.", 3)
    assert _run(capsys, work) == (3, "", "No device found.\nPlug it in.\n")


@pytest.mark.parametrize("returned,status", [(None, 0), (0, 0), (5, 5), (True, 1)])
def test_the_status_is_what_the_work_returned(capsys, returned, status):
    assert _run(capsys, lambda: returned)[0] == status


@pytest.mark.parametrize("exit_with,status", [(None, 0), (2, 2), ("text", 1)])
def test_system_exit_passes_its_status(capsys, exit_with, status):
    def work():
        raise SystemExit(exit_with)
    assert _run(capsys, work)[0] == status


@pytest.mark.parametrize("sig,status,line", [(signal.SIGINT, 130, "Interrupted.\n"),
                                             (signal.SIGTERM, 143, "Interrupted (SIGTERM).\n"),
                                             (signal.SIGHUP, 129, "Interrupted (SIGHUP).\n")])
def test_a_signal_during_the_work_is_its_status(capsys, sig, status, line):
    reached = []

    def work():
        signal.raise_signal(sig)
        reached.append("after")         # not run: the handler raised at the next bytecode
    assert _run(capsys, work) == (status, "", line)
    assert reached == []


def test_a_signal_inside_a_deferred_step_lands_after_it(capsys):
    steps = []

    def work():
        with errors.deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            steps.append("step finished")
        steps.append("never")
    assert _run(capsys, work)[0] == 130
    assert steps == ["step finished"]


def test_only_the_first_signal_interrupts_cleanup_runs_to_its_end(capsys):
    steps = []

    def work():
        try:
            signal.raise_signal(signal.SIGINT)
        finally:
            signal.raise_signal(signal.SIGTERM)     # a second signal while cleaning up
            steps.append("cleanup finished")
    assert _run(capsys, work)[0] == 130
    assert steps == ["cleanup finished"]


def test_handlers_are_put_back_after_an_in_process_run(capsys):
    before = {s: signal.getsignal(s) for s in runner.HANDLED_SIGNALS}
    _run(capsys, lambda: 0)
    assert {s: signal.getsignal(s) for s in runner.HANDLED_SIGNALS} == before
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_streams_get_backslash_escapes_instead_of_encoding_errors():
    import io
    import sys

    fake = io.TextIOWrapper(io.BytesIO(), encoding="cp1252", errors="strict")
    real, sys.stdout = sys.stdout, fake
    try:
        runner.harden_streams()
        print("ключ ñ")
        fake.flush()
    finally:
        sys.stdout = real
    assert fake.buffer.getvalue() == b"\\u043a\\u043b\\u044e\\u0447 \xf1\n"


def test_a_signal_while_closing_up_is_forgotten(capsys):
    steps = []

    def work():
        with errors.deferred_interrupts(drop=True):
            signal.raise_signal(signal.SIGTERM)
            steps.append("closed")
        steps.append("went on")
        return 0
    assert _run(capsys, work) == (0, "", "")
    assert steps == ["closed", "went on"]
