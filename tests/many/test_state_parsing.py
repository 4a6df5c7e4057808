"""The per-board faults a state folder keeps (state.json "unit_knobs") are outside input: any
JSON there either loads or is reported as a damaged folder, never a crash."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=3),
                           max_leaves=8)
knob_names = st.sampled_from(["UNPLUG_AFTER", "OPEN_FAIL", "SERIAL", "HUB_FULL", "NOPE", "fake_open_fail"])


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.dictionaries(knob_names, json_values, max_size=2) | json_values,
                       max_size=3))
def test_any_unit_knobs_load_or_are_called_damaged(tmp_path_factory, unit_knobs):
    from particle_py.sim.bus import DamagedState, SimBus
    from particle_py.sim.state import create_state

    folder = tmp_path_factory.mktemp("state")
    create_state(folder, ["photon-normal", "argon-normal"])
    data = json.loads((folder / "state.json").read_text())
    data["unit_knobs"] = unit_knobs
    (folder / "state.json").write_text(json.dumps(data))
    try:
        bus = SimBus.load(folder)
    except DamagedState as err:
        assert "damaged" in err.message
        return
    assert len(bus.devices()) == 2


def test_a_boards_own_fault_survives_a_save_and_a_load(tmp_path):
    from particle_py.sim.bus import SimBus
    from particle_py.sim.state import create_state

    bus = create_state(tmp_path, ["photon-normal", "photon-normal"])
    bus.set_unit_knobs(bus.devices()[1].unit, {"OPEN_FAIL": "-3"})
    bus.save()
    again = SimBus.load(tmp_path)
    assert [d.knobs.get("OPEN_FAIL") for d in again.devices()] == [None, -3]
