"""The fault knobs the matrix added, the matrix's judge, and regression tests for every bug
the fault matrix found (docs/reliability.md lists them with their causes).

The whole matrix runs in scripts/fault-report; here: one cheap cell end to end, and each bug's
exact user-visible symptom."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matrix  # noqa: E402


@pytest.fixture
def base(tmp_path):
    return tmp_path


def _fault(family, variant=""):
    return next(f for f in matrix.FAULTS if f.family == family and f.variant == variant)


# --- the new knobs ------------------------------------------------------------------------------

def _sim(tmp_path, profiles, knobs):
    from particle_py.sim.bus import SimBus
    from particle_py.sim.state import create_state

    create_state(tmp_path / "sim", profiles, knobs)
    return SimBus.load(tmp_path / "sim")


GETSTATUS = (0xA1, 3, 0, 0, b"", 6)


def test_stall_after_and_timeout_after_start_at_the_given_transfer(tmp_path):
    from particle_py.sim.device import SimUsbError

    for knob, code in (("STALL_AFTER", -9), ("TIMEOUT_AFTER", -7)):
        dev = _sim(tmp_path, ["photon"], {knob: 2}).devices()[0]
        dev.control(*GETSTATUS)
        dev.control(*GETSTATUS)
        with pytest.raises(SimUsbError) as err:
            dev.control(*GETSTATUS)
        assert err.value.code == code


def test_status_after_fails_the_first_operation_after_the_step(tmp_path):
    dev = _sim(tmp_path, ["photon"], {"STATUS_AFTER": "10@1"}).devices()[0]
    dev.control(0x21, 1, 0, 0, bytes([0x21, 0, 0, 0x0A, 0x08]), 0)      # SET_ADDRESS (transfer 1)
    assert dev.control(*GETSTATUS)[4] == 4                               # dfuDNBUSY
    reply = dev.control(*GETSTATUS)
    assert (reply[4], reply[0]) == (10, 10)                              # dfuERROR, errFIRMWARE


def test_second_device_appears_once_after_the_step(tmp_path):
    bus = _sim(tmp_path, ["photon:real=1"], {"SECOND_DEVICE_AFTER": 1})
    dev = bus.devices()[0]
    dev.control(*GETSTATUS)
    assert len(bus.devices()) == 1
    dev.control(*GETSTATUS)
    devices = bus.devices()
    assert len(devices) == 2 and devices[1].serial != devices[0].serial
    dev.control(*GETSTATUS)
    bus.save()
    from particle_py.sim.bus import SimBus
    assert len(SimBus.load(tmp_path / "sim").devices()) == 2


def test_reenumeration_can_be_slow_and_move_to_a_new_port(tmp_path):
    bus = _sim(tmp_path, ["photon:real=1"], {"REENUM_DELAY_MS": 1500, "REENUM_NEW_PORT": 1})
    dev = bus.devices()[0]
    old_path = dev.path
    dev.leave_bus("photon-normal")
    assert bus.devices() == []
    bus.save()
    from particle_py.sim.bus import SimBus
    bus = SimBus.load(tmp_path / "sim")          # the pending arrival survives a save
    bus.sleep_ms(1000)
    assert bus.devices() == []
    bus.sleep_ms(500)
    (back,) = bus.devices()
    assert back.path != old_path and back.pid == 0xC006


def test_cloud_fail_modes(tmp_path):
    from particle_py.cloud.api import ApiClient
    from particle_py.errors import ParticlePyError
    from particle_py.sim import cloud as sim_cloud

    with sim_cloud.start(tmp_path / "cloud.sqlite") as running:
        running.db.add_user("a@b.c", "pw")
        client = ApiClient(running.url, running.db.issue_token("a@b.c"))
        assert client.whoami() == {"username": "a@b.c"}
        for mode, text in (("drop", "Could not reach the Particle cloud"), ("html", "502")):
            running.db.set_knob("fail_mode", mode)
            with pytest.raises(ParticlePyError) as err:
                client.whoami()
            assert text in err.value.message and err.value.hint
        running.db.set_knob("fail_mode", "garbage")
        with pytest.raises(ParticlePyError) as err:
            client.whoami()
        assert "not JSON" in err.value.message and err.value.hint


# --- the judge can fail -------------------------------------------------------------------------

def test_a_false_success_is_caught(base):
    op = matrix.by_name("dfu-util -U")
    o = matrix.run_once(op, None, 0, base)
    assert matrix.judge(op, None, o) is None
    o.after = {"user part": b"\x00" * matrix.APP_SIZE}
    assert "exit 0 but user part holds other contents" == matrix.judge(op, None, o)
    o.code, o.out, o.err = 74, "", "dfu-util: Error during upload\n"
    assert "neither old nor new" in matrix.judge(op, None, o)


def test_a_particle_error_without_a_next_step_is_caught(base):
    op = matrix.by_name("keys save")
    o = matrix.run_once(op, None, 0, base)
    o.code, o.err = 1, "Error saving key from device: LIBUSB_ERROR_PIPE\n"
    assert matrix.judge(op, None, o).startswith("no next step")


def test_one_cell_of_the_matrix_end_to_end():
    result = matrix.run_cell(matrix.by_name("dfu-util -U"), "unplugged")
    assert result.runs == matrix._CLEAN["dfu-util -U"] + 1
    assert result.failures == []


# --- regressions: bugs the matrix found ------------------------------------------------------------

def test_plain_dfu_device_gone_after_the_last_block_is_a_warning_not_a_traceback(base):
    """engine emitted completion_status_unreadable without the {error} its message needs."""
    op = matrix.by_name("dfu-util -D (DFU 1.1)")
    o = matrix.run_once(op, _fault("unplugged"), matrix.clean_transfers(op, base) - 2, base)
    assert "Traceback" not in o.err
    assert o.err.endswith("dfu-util: unable to read DFU status after completion (LIBUSB_ERROR_NO_DEVICE)\n")
    # dfu-util 0.11 returns the failed GETSTATUS (dfu_load.c dfuload_do_dnload): EX_IOERR, as the real
    # binary does (tests/umockdev/differential.py dfu11-ends_dl_manifest_gone)
    assert o.code == 74


def test_dfuse_command_failures_name_the_command():
    """DfuError formatting fell back to the raw template ("%s") when given the libusb code too."""
    from particle_py.dfu.engine import DfuError

    assert DfuError("special_download", "ERASE_PAGE", -4).message == \
        'Error during special command "ERASE_PAGE" download'


@pytest.mark.parametrize("op_name,fault,step", [
    ("keys load", ("stall", ""), 3), ("keys save", ("timeout", ""), 0),
    ("keys save", ("DFU status", "status=3"), None), ("keys load", ("data transfer error", "UPLOAD -9"), 0),
    ("keys protocol", ("data transfer error", "DNLOAD -4"), 0), ("keys protocol", ("stall", ""), 5),
])
def test_keys_usb_failures_tell_the_user_what_to_do(base, op_name, fault, step):
    op = matrix.by_name(op_name)
    f = _fault(*fault)
    if step is None:
        step = matrix.steps_for(op, f, base)[0]
    o = matrix.run_once(op, f, step, base)
    assert o.code != 0
    lines = o.err.splitlines()
    assert lines[-1] == ("Check the USB cable and port (plug the device in directly, not through a hub), make sure "
                         "the device is still in DFU mode (blinking yellow), then run the command again.")
    assert '"%s"' not in o.err
    assert o.after == o.before


@pytest.mark.parametrize("family,variant,step", [("stall", "", 0), ("stall", "", 2), ("timeout", "", 2),
                                                  ("open fails", "libusb -1", 0), ("open fails", "libusb -4", 0)])
def test_usb_reset_that_never_reached_the_device_is_not_a_success(base, family, variant, step):
    """send_control(may_vanish=True) took any USB error for "the device is restarting"."""
    op = matrix.by_name("usb reset")
    o = matrix.run_once(op, _fault(family, variant), step, base)
    if family == "open fails" and variant == "libusb -4":
        # the device is not there at all: the error says so
        assert o.code != 0 and o.out == ""
        return
    assert o.code != 0, o.out
    assert "check the usb cable (no hub), or press its reset button, then run the command again." in o.err.lower()
    assert not any(e.get("event") == "detached" for e in o.log)


@pytest.mark.parametrize("status,hint", [
    ("404", "Check the device ID"), ("429", "wait a minute"), ("400", "check the command's arguments"),
])
def test_keys_send_cloud_refusals_say_what_to_do(base, status, hint):
    op = matrix.by_name("keys send")
    o = matrix.run_once(op, _fault("cloud error", f"HTTP {status}"), 0, base)
    assert o.code == 1
    assert o.err.startswith("Error sending public key to server: Simulated cloud failure\n")
    assert hint in o.err


def test_a_file_left_in_the_temp_folder_fails_the_run(base):
    op = matrix.by_name("keys save")
    o = matrix.run_once(op, None, 0, base)
    assert o.leftovers == [] and matrix.judge(op, None, o) is None
    (o.ctx.root / "tmp" / "key-abc").write_bytes(b"secret")
    (o.ctx.work / "saved.der.tmp").write_bytes(b"half")
    o.leftovers = matrix._leftovers(o.ctx)
    assert matrix.judge(op, None, o) == "left behind: tmp/key-abc, work/saved.der.tmp"


# --- issue 11: the new kinds of fault -----------------------------------------------------------------

def test_the_matrix_has_at_least_500_cells_in_the_new_kinds():
    cells = matrix.cells()
    assert len(cells) >= 500
    column_of = {f.family: f.column for f in matrix.FAULTS}
    kinds = {column_of[fam] for _op, fam in cells}
    assert {"forced write", "wrong file kind", "odd descriptor", "hostile cloud", "odd configuration"} <= kinds


@pytest.mark.parametrize("op_name,family", [
    ("flash --usb (normal)", "forced: wrong platform"), ("flash --usb (normal)", "wrong file: 3 GB file"),
    ("keys server", "wrong file: device private key"), ("keys doctor", "descriptor: serial ../../../escaped"),
    ("keys address", "descriptor: DCT layout of 10^8 pages"), ("keys send", "hostile cloud: redirect-away"),
    ("login", "hostile cloud: wrong types"), ("whoami", "hostile cloud: raw escapes"),
    ("keys doctor", "config: apiUrl plain http"), ("flash --usb", "config: .particle is a file"),
])
def test_one_cell_of_each_new_kind_end_to_end(op_name, family):
    result = matrix.run_cell(matrix.by_name(op_name), family)
    assert result.runs == 1 and result.failures == []


def _new_fault(family):
    return next(f for f in matrix.FAULTS if f.family == family)


def test_the_judge_catches_a_forced_write_reported_as_a_plain_success(base):
    op, fault = matrix.by_name("flash --usb"), _new_fault("forced: wrong platform")
    o = matrix.run_once(op, fault, 0, base)
    assert o.code == 0 and matrix.judge(op, fault, o) is None
    o.out, o.err = o.out.replace("Flash done (forced).", "Flash success!"), ""
    assert matrix.judge(op, fault, o) == "a forced write the device cannot run was reported as a plain success"


def test_the_judge_catches_a_refused_file_that_still_switched_the_device(base):
    op, fault = matrix.by_name("flash --usb (normal)"), _new_fault("wrong file: empty file")
    o = matrix.run_once(op, fault, 0, base)
    assert o.code == 1 and matrix.judge(op, fault, o) is None
    from particle_py import control_codes as control
    o.log.append({"event": "control", "bmRequestType": 0xC1, "bRequest": 1, "wIndex": control.DFU_MODE})
    assert "switched to DFU mode" in matrix.judge(op, fault, o)


def test_the_judge_catches_escapes_a_token_elsewhere_and_a_lost_login(base):
    op, fault = matrix.by_name("login"), _new_fault("hostile cloud: escapes")
    o = matrix.run_once(op, fault, 0, base)
    assert o.code == 1 and matrix.judge(op, fault, o) is None
    assert "\\x1b[2J" in o.err                      # shown escaped
    raw = matrix.Outcome(o.code, o.out, o.err + "\x1b[2J", o.before, o.after, o.files, o.log, o.ctx)
    assert matrix.judge(op, fault, raw).startswith("a control character reached the terminal")
    elsewhere = matrix.Outcome(o.code, o.out, o.err + "\n[matrix] a request reached another host: x", o.before,
                               o.after, o.files, o.log, o.ctx)
    assert "another host" in matrix.judge(op, fault, elsewhere)
    (o.ctx.home / ".particle" / "particle.config.json").write_text("{}")
    assert matrix.judge(op, fault, o) == "a failed login changed the saved token"


def test_the_report_lists_the_new_families():
    out = io.StringIO()
    results = [matrix.CellResult("keys send", "hostile cloud: empty", runs=1),
               matrix.CellResult("flash --usb", "forced: bad CRC", runs=1)]
    assert matrix.report(results, out) == 0
    text = out.getvalue()
    assert "hostile cloud (10 families, 1 in this report): empty, list, wrong types" in text
    assert "forced write (2 families, 1 in this report): wrong platform, bad CRC" in text
    assert "odd descriptor (7 families, 0 in this report)" in text and "odd configuration (8 families, 0 in this report)" in text


# --- issue 23: the new rooms ------------------------------------------------------------------------

NEW_KINDS = {"hostile release file", "hostile download", "hostile serial device", "hostile device record",
             "particle-sim arguments", "damaged simulator state"}


def test_the_matrix_covers_the_new_rooms_in_at_least_800_cells():
    cells = matrix.cells()
    assert len(cells) >= 800
    column_of = {f.family: f.column for f in matrix.FAULTS}
    assert NEW_KINDS <= {column_of[fam] for _op, fam in cells}
    rows = {op for op, _fam in cells}
    assert {"update --from <folder>", "update --from <zip>", "update (download)", "serial identify", "serial mac",
            "serial inspect", "doctor --dry-run (cloud read)", "particle-sim create", "particle-sim status",
            "particle-sim firmware"} <= rows


def test_the_new_rooms_are_not_stepped():
    """A stepped family runs once per control transfer: the new rows stay cheap without them."""
    for op_name, fam in matrix.cells():
        op = matrix.by_name(op_name)
        if not op.stepped:
            assert not any(f.stepped for f in matrix.FAULTS if f.family == fam and matrix.applies(op, f))


@pytest.mark.parametrize("op_name,family", [
    ("update --from <zip>", "wrong file: FIFO"), ("update (download)", "download: answer not JSON"),
    ("serial mac", "serial: stall"), ("serial identify", "serial: unplugged mid-reply"),
    ("doctor --dry-run (cloud read)", "cloud record: not JSON"),
    ("particle-sim create", "sim argument: create --id not-hex"),
    ("usb list", "sim state: PARTICLE_PY_SIM names a file"),
])
def test_one_cell_of_each_new_room_end_to_end(op_name, family):
    result = matrix.run_cell(matrix.by_name(op_name), family)
    assert result.runs == 1 and result.failures == []


def test_the_judge_fails_an_internal_error(base):
    op = matrix.by_name("usb list")
    o = matrix.run_once(op, None, 0, base)
    assert o.code == 0 and matrix.judge(op, None, o) is None
    o.code, o.err = 70, ("particle: internal error (TypeError: x). This is a bug in particle-py; please report it "
                         "with the command you ran.\n")
    assert matrix.judge(op, None, o).startswith("particle: internal error (TypeError: x)")


def test_the_judge_fails_an_unbounded_serial_read(base):
    op, fault = matrix.by_name("serial mac"), _new_fault("serial: flood")
    o = matrix.run_once(op, fault, 0, base)
    from particle_py.sim import serial as sim_serial
    board = sim_serial.load_board(str(o.ctx.sim), 0)
    board["script_pos"] = matrix.FLOOD_ITEMS
    sim_serial.save_board(str(o.ctx.sim), 0, board)
    assert "read the device's whole flood" in matrix.judge(op, fault, o)
    board["script_pos"] = 3
    sim_serial.save_board(str(o.ctx.sim), 0, board)
    assert fault.extra_check(o) is None


def test_the_judge_fails_a_release_update_that_cannot_be_the_target(base):
    op, fault = matrix.by_name("update --from <folder>"), _new_fault("release: header says 1.0.0")
    o = matrix.run_once(op, fault, 0, base)
    o.code = 0
    assert matrix.judge(op, fault, o) == "exit 0 for a release the device cannot run as Device OS 9.0.0"


def test_the_judge_fails_a_claim_the_cloud_record_does_not_make(base):
    op, fault = matrix.by_name("doctor --dry-run (cloud read)"), _new_fault("cloud record: another device's record")
    o = matrix.run_once(op, None, 0, base)
    assert matrix.judge(op, None, o) is None
    assert fault.extra_check(o) == ("the doctor said 'claimed to your account' from a record that does not "
                                    "say so")
