"""`particle list` / `particle cloud list` as particle-cli 3.51 prints them, against the
simulated cloud (GET /v1/devices, then each online device's record for its variables and
functions); and the list answer as outside input."""
import json
import unicodedata

from hypothesis import given, settings, strategies as st

ARGON = "e00fce68a1b2c3d4e5f60718"
P2 = "0a10aced202194944a001be0"
BORON = "e00fce68f1e2d3c4b5a69788"


def test_not_logged_in(cloud, particle):
    assert particle("list") == (1, "", "You're not logged in. Run `particle login` to authenticate.\n")
    assert cloud.db.requests() == []


def test_no_devices(logged_in, particle):
    assert particle("list") == (0, "No devices found.\n", "")


def test_online_and_offline_devices_in_3_51s_order(cloud, logged_in, particle):
    cloud.db.add_device(ARGON, owner="alice@example.com", name="zeta", connected=True)
    cloud.db.add_device(BORON, owner="alice@example.com", name="alpha", connected=False)
    cloud.db.add_device(P2, owner="alice@example.com", name="", connected=False)
    cloud.db.add_device("e00fce68000000000000aaaa", owner="bob@example.com", name="bobs")
    cloud.db._q("UPDATE devices SET product_id = 12 WHERE id = ?", (ARGON,))
    cloud.db._q("UPDATE devices SET product_id = 13 WHERE id = ?", (BORON,))
    code, out, err = particle("list")
    assert (code, err) == (0, "")
    # the cloud's order is [p2, argon, boron]; node 22's sort with 3.51's comparator gives this
    assert out == (f"<no name> [{P2}] (Product null) is offline\n"
                   f"alpha [{BORON}] (Boron) is offline\n"
                   f"zeta [{ARGON}] (Argon) is online\n")
    paths = [r["path"] for r in cloud.db.requests()]
    assert paths == ["/v1/devices", f"/v1/devices/{ARGON}"]      # attributes of the online one only


def test_filters(cloud, logged_in, particle):
    cloud.db.add_device(ARGON, owner="alice@example.com", name="zeta", connected=True)
    cloud.db.add_device(BORON, owner="alice@example.com", name="alpha", connected=False)
    assert particle("list", "offline")[1] == f"alpha [{BORON}] (Product null) is offline\n"
    assert particle("cloud", "list", "zeta")[1] == f"zeta [{ARGON}] (Product null) is online\n"
    assert particle("list", "nothing-matches") == (0, "\n", "")       # 3.51 writes an empty line


def test_a_list_answer_of_the_wrong_shape_is_refused(cloud, logged_in, particle):
    cloud.db.set_knob("fail_mode", "garbage")
    cloud.db.set_knob("fail_path", "/v1/devices")
    code, out, err = particle("list")
    assert (code, out) == (1, "")
    assert "which is not JSON" in err


def test_3_51s_comparator_orders_as_node_does():
    from particle_py.ops.cloud_devices import CloudDevice, _compare, js_sort

    # node 22: [null/off, "zeta"/on, "alpha"/off] sorts to alpha, <null>, zeta (a null name
    # compares as "null" when it is the second argument)
    devices = [CloudDevice("p2", None, False, None, None), CloudDevice("argon", "zeta", True, None, None),
               CloudDevice("boron", "alpha", False, None, None)]
    assert [d.device_id for d in js_sort(devices, _compare)] == ["boron", "p2", "argon"]
    # all online, all unnamed (null): each compare says "less", so V8 reverses the list
    devices = [CloudDevice(i, None, True, None, None) for i in "abc"]
    assert [d.device_id for d in js_sort(devices, _compare)] == ["c", "b", "a"]


def test_js_sort_is_v8s():
    from particle_py.ops.cloud_devices import js_sort

    # orders that node 22 gives; 3.51's own comparator was checked against node on 400 random lists
    assert js_sort([3, 1, 2], lambda a, b: (a > b) - (a < b)) == [1, 2, 3]
    assert js_sort([5, 4, 3, 2, 1], lambda a, b: (a > b) - (a < b)) == [1, 2, 3, 4, 5]
    assert js_sort(list(range(70, 0, -3)), lambda a, b: (a > b) - (a < b)) == sorted(range(70, 0, -3))


RECORD = st.fixed_dictionaries({"id": st.text("0123456789abcdef", min_size=24, max_size=24),
                                 "connected": st.booleans()},
                                optional={"name": st.one_of(st.none(), st.text(max_size=80)),
                                          "product_id": st.one_of(st.integers(), st.text(max_size=3)),
                                          "platform_id": st.integers()})
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
                    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(RECORD, max_size=5), JSON))
def test_listed_devices_accepts_only_lists_of_device_records(value):
    from particle_py.cloud.api import listed_devices

    devices = listed_devices(json.loads(json.dumps(value)))
    if devices is None:
        return
    assert isinstance(value, list) and len(devices) == len(value)
    for d in devices:
        assert len(d["id"]) == 24 and isinstance(d["connected"], bool)
        assert d["name"] is None or not any(unicodedata.category(c) in ("Cc", "Cf") for c in d["name"])
        assert d["product_id"] is None or isinstance(d["product_id"], int)


def test_variables_and_functions_lines():
    from particle_py.cli.particle.list_cmd import device_lines
    from particle_py.ops.cloud_devices import CloudDevice

    device = CloudDevice(ARGON, "zeta", True, 12, 12, {"temp": "double", "count": "int32"}, ["led", "reset"])
    assert device_lines([device]) == [f"zeta [{ARGON}] (Argon) is online", "  Variables:", "    temp (double)",
                                      "    count (int32)", "  Functions:", "    int led (String args) ",
                                      "    int reset (String args) "]
