"""`particle doctor --yes` stopped by a signal after a repair: the report says what was done and
what was not, and the device holds what it says (the repaired server key stays)."""
from __future__ import annotations

import signal

import pytest

from helpers.loopback import serving
from helpers.processes import class_requests, no_traceback
from particle_py.platforms import by_name

PHOTON = by_name("photon")
SERVER = PHOTON.server_key[PHOTON.default_protocol]


@pytest.fixture
def photon(bench):
    from tests.doctor.conftest import give_cloud_particles_keys, official_root

    give_cloud_particles_keys(bench.state)
    with serving(official_root()) as url:
        bench.asset_url = url
        yield bench


def _fresh(bench):
    done = bench.run("particle-sim", "create", "photon", "--server-key", "wrong")
    assert done.status == 0, done.err
    bench.clear_log()


def _doctor(bench, interrupted=False, **kw):
    run = bench.run_interrupted if interrupted else bench.run
    return run("particle", "doctor", "--yes", PARTICLE_PY_ASSET_URL=bench.asset_url, **kw)


@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGTERM)], ids=["pty-^C", "piped-TERM"])
def test_doctor_interrupted_after_a_repair_says_what_was_done(photon, use_pty, sig):
    _fresh(photon)
    done = _doctor(photon)
    assert done.status == 0, done.out + done.err
    good = photon.peek(SERVER.alt, SERVER.address, SERVER.size)
    last_read = len(class_requests(photon.log(), 2))       # the doctor's check after its repairs
    _fresh(photon)
    photon.set_knobs(PAUSE_AFTER=f"2@{last_read - 2}")
    got = _doctor(photon, interrupted=True, sig=sig, use_pty=use_pty)
    text = (got.out + got.err).replace("\r\n", "\n")
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False), text
    label = "Interrupted" if sig == signal.SIGINT else "Interrupted (SIGTERM)"
    assert (f"{label}: the doctor stopped.\n"
            "Done before it: Restore the server key\n"
            "The device is not repaired. Run `particle doctor` again to finish.\n") in text, text
    assert photon.peek(SERVER.alt, SERVER.address, SERVER.size) == good       # the repair holds
