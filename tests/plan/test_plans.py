"""Recorded restores: a repair run once with --save-plan, done again with `particle plan run` on
other devices; refused (before any device changes) for another platform or Device OS, a changed
file or a damaged plan."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from particle_py.errors import ParticlePyError
from particle_py.ops import plan as plans


def _leds(world) -> dict:
    text = world.sim("status")
    ids = re.findall(r"^\S.* ([0-9a-f]{24}) ", text, re.M)
    leds = [ln.strip()[5:].split(" (")[0] for ln in text.splitlines() if ln.strip().startswith("LED: ")]
    return dict(zip(ids, leds))


def test_a_keys_doctor_plan_replayed_on_eight_devices_fixes_each(world, particle, tmp_path):
    first, = world.make("photon", key="corrupt")
    path = tmp_path / "restore.json"
    code, out, err = particle("keys", "doctor", "--save-plan", path)
    assert code == 0, err
    plan = json.loads(path.read_text())
    assert (plan["plan"], plan["command"], plan["args"], plan["platform"]) == (1, "keys doctor", [], "photon")
    assert first not in path.read_text() and "PRIVATE" not in path.read_text()
    assert plan["does"].startswith("generate a new device key")

    ids = world.make("photon", *["photon"] * 7, key="corrupt", id="3a0035000f47343432313000")
    assert len(ids) == 8 and all(led != "breathing cyan" for led in _leds(world).values())
    code, out, err = particle("plan", "run", path, "--all", "--json")
    assert code == 0, out + err
    envelope = json.loads(out)
    outcomes = envelope["result"]["plan run"]["devices"]
    assert sorted(o["device_id"] for o in outcomes) == sorted(ids)
    assert {o["result"] for o in outcomes} == {"done"}
    assert _leds(world) == {i: "breathing cyan" for i in ids}
    assert "Plan summary:" in envelope["steps"]


def test_a_plan_for_another_platform_is_refused_before_the_device_is_touched(world, particle, tmp_path):
    world.make("photon", key="corrupt")
    path = tmp_path / "photon.json"
    assert particle("keys", "doctor", "--save-plan", path)[0] == 0
    world.make("argon", key="corrupt")
    before = world.sim("status")
    code, out, err = particle("plan", "run", path)
    assert code == 1
    assert "refused: the plan is for a photon, this device is a argon" in out
    assert "The plan did not finish on 1 of 1 devices." in err
    assert world.sim("status") == before


def test_a_plan_recorded_on_another_device_os_is_refused(world, particle, tmp_path):
    world.make("photon", key="corrupt")
    path = tmp_path / "p.json"
    assert particle("keys", "doctor", "--save-plan", path)[0] == 0
    data = json.loads(path.read_text())
    data["device_os"] = "0.7.0"
    path.write_text(json.dumps(data))
    code, out, _ = particle("plan", "run", path)
    assert code == 1 and "refused: the plan was recorded on Device OS 0.7.0, this device runs" in out


def test_a_changed_file_is_refused_before_any_device(world, particle, tmp_path, monkeypatch):
    world.make("photon")
    monkeypatch.chdir(tmp_path)
    app = tmp_path / "app.bin"
    app.write_bytes(b"\0" * 64)
    plan = plans.record("flash", ["--usb", "app.bin"], "photon", None)
    assert plan.files[0].name == "app.bin" and len(plan.files[0].sha256) == 64
    path = tmp_path / "f.json"
    path.write_text(json.dumps(plan.as_json()))
    app.write_bytes(b"\1" * 64)
    code, _, err = particle("plan", "run", path)
    assert code == 65 and "is not the file the plan was recorded with" in err


def test_save_plan_only_on_a_repair(world, particle, tmp_path):
    world.make("photon")
    code, _, err = particle("usb", "list", "--save-plan", tmp_path / "x.json")
    assert code == 64 and "is not one" in err
    assert not (tmp_path / "x.json").exists()


def test_a_recorded_plan_reads_back_the_same():
    plan = plans.Plan("keys server", ("--protocol", "tcp"), "electron", "1.5.2", (), "x", ("a",))
    again = plans.parse(json.dumps(plan.as_json()).encode())
    assert again.as_json() == {**plan.as_json(), "does": plans.RECORDABLE["keys server"][1]}
    assert again.args_for("abc") == ["keys", "server", "--protocol", "tcp", "--device", "abc"]


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"plan": 2}', b'{"plan": true, "command": "flash"}',
                                 b'{"plan": 1, "command": "keys load", "args": [], "platform": "photon"}',
                                 b'{"plan": 1, "command": "flash", "args": ["--save-plan"], "platform": "p"}',
                                 b'{"plan": 1, "command": "flash", "args": [], "platform": "photon",'
                                 b' "files": [{"arg": 0, "name": "a", "sha256": "00"}]}'])
def test_a_damaged_plan_is_named(raw):
    with pytest.raises(ParticlePyError) as caught:
        plans.parse(raw)
    assert caught.value.exit_code == 65 and caught.value.message.startswith("This is not a particle-py plan")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 st.dictionaries(st.sampled_from(["plan", "command", "args", "platform", "device_os", "files",
                                                  "steps"]), json_values)
                 .map(lambda d: json.dumps({"plan": 1, "command": "flash", **d}).encode())))
def test_any_bytes_are_a_plan_or_a_named_refusal(raw):
    try:
        plan = plans.parse(raw)
    except ParticlePyError as err:
        assert err.exit_code == 65
    else:
        assert plan.command in plans.RECORDABLE
        assert plans.parse(json.dumps(plan.as_json()).encode()) == plan


def test_a_doctor_plan_needs_yes(world, particle, tmp_path):
    world.make("photon")
    code, _, err = particle("doctor", "--dry-run", "--save-plan", tmp_path / "d.json")
    assert code == 64 and "give --yes" in err
    assert not (tmp_path / "d.json").exists()


def test_the_json_of_a_plan_run_names_each_device(world, particle, tmp_path):
    world.make("photon", key="corrupt")
    path = tmp_path / "p.json"
    assert particle("keys", "doctor", "--save-plan", path, "--json")[0] == 0
    assert json.loads(path.read_text())["steps"][0]          # recorded with --json: its steps too
    ids = world.make("photon", "photon", key="corrupt", id="3a0035000f47343432313000")
    code, out, _ = particle("plan", "run", path, *ids, "--json")
    envelope = json.loads(out)
    assert code == 0
    assert [d["id"] for d in envelope["devices"]] == ids
    assert {d["platform"] for d in envelope["devices"]} == {"photon"}


def test_a_refused_recording_is_the_envelopes_error(world, particle, tmp_path):
    world.make("photon")
    code, out, _ = particle("usb", "list", "--save-plan", tmp_path / "x.json", "--json")
    assert code == 64 and json.loads(out)["error"]["exit_code"] == 64


def test_a_plan_replays_on_every_device_at_once_each_line_its_devices(world, particle, tmp_path):
    world.make("photon", key="corrupt")
    path = tmp_path / "restore.json"
    assert particle("keys", "doctor", "--save-plan", path)[0] == 0
    ids = world.make("photon", "photon", "photon", key="corrupt", id="3a0035000f47343432313000")
    code, out, err = particle("plan", "run", path, "--all")
    assert code == 0, out + err
    lines = out.splitlines()
    for device_id in ids:
        mine = [ln for ln in lines if ln.startswith(f"[{device_id} ")]
        assert any(ln.endswith("submitting public key succeeded!") for ln in mine), mine
        assert f"  {device_id}  photon  done" in lines
    assert not any(ln.startswith("submitting") for ln in lines)        # no line without its device
    assert _leds(world) == {i: "breathing cyan" for i in ids}
