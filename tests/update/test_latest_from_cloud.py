"""`particle update` with no --target on a platform particle-py pins no release for (P2, M-SoM):
it asks the cloud for the latest release and takes it, as particle-cli 3.14+ does
(GET /v1/device-os/versions/latest?platform_id=<id>, then the files from the answer's base_url).
Not logged in, offline, or a platform the cloud has nothing for: it says so, names --target, and
writes nothing. The simulated cloud serves the release (sim/device_os_catalog.py)."""
import json
import socket

import pytest
from hypothesis import given, settings, strategies as st

from particle_py.cloud.api import device_os_release_version
from particle_py.firmware.module import parse
from particle_py.platforms import by_name
from test_update import data_writes

LATEST = "6.3.4"


@pytest.fixture
def cloud(isolated_home):
    """The simulated cloud (the device folder's own database), the user logged in to it."""
    from particle_py.sim import cloud as cloud_mod

    started = []

    def start(device, *, logged_in=True):
        server = cloud_mod.start(device.folder / "cloud" / "cloud.sqlite")
        started.append(server)
        server.db.add_user("latest@example.com", "not-a-real-password")
        config = isolated_home / ".particle" / "particle.config.json"
        settings_ = json.loads(config.read_text())
        settings_["apiUrl"] = server.url
        if logged_in:
            settings_["access_token"] = server.db.issue_token("latest@example.com")
        config.write_text(json.dumps(settings_))
        return server
    yield start
    for server in started:
        server.stop()


def _requests(server):
    return [(m, p, s) for m, p, _a, _f, s in server.db._q("SELECT method, path, auth, form, status FROM requests")]


def _stand_in_part(platform_name):
    from particle_py.sim import contents

    platform = by_name(platform_name)
    return contents.device_os(platform, LATEST, part_size=64 * 1024)[0]


@pytest.mark.parametrize("platform,mode", [("p2", "dfu"), ("p2", "normal"), ("msom", "dfu"), ("msom", "normal")])
def test_no_target_takes_the_latest_release_the_cloud_names(device, run, cloud, platform, mode):
    d = device(platform, mode=mode, device_os="5.0.0")
    server = cloud(d)
    code, out, err = run("update")
    assert code == 0, err
    name = by_name(platform).display_name
    lines = out.splitlines()
    assert f"No --target given: Device OS {LATEST} is the latest release Particle's cloud names for {name}." in lines
    assert f"Downloading Device OS {LATEST}" in lines and f"Downloaded Device OS {LATEST}" in lines
    assert f"Flashing {platform}-system-part1@{LATEST}.bin" in lines
    asked = _requests(server)
    assert ("GET", "/v1/device-os/versions/latest", 200) in asked
    assert ("GET", f"/v1/firmware/device-os/v{LATEST}/{platform}-system-part1@{LATEST}.bin", 200) in asked
    address, module = _stand_in_part(platform)
    payload = parse(module).payload()
    assert d.peek(0, address, len(payload)) == payload
    assert d.mode == "normal"
    assert d.led().startswith("breathing cyan"), d.led()


def test_not_logged_in_says_so_and_names_target(device, run, cloud):
    d = device("p2", mode="dfu", device_os="5.0.0")
    cloud(d, logged_in=False)
    mark = len(d.log())
    code, out, err = run("update")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == ("Could not ask Particle's cloud for the latest Device OS for Photon 2 / P2: "
                        "You're not logged in. Run `particle login` to authenticate.")
    assert lines[1] == ("Nothing was written to the device. Log in (particle login) so particle-py can ask the "
                        "cloud, or name the version: particle update --target <version> (with --from <folder or "
                        ".zip> to use files you have).")
    assert "success" not in out.lower()
    assert data_writes(d.log()[mark:]) == []


def test_offline_says_so_and_names_target(device, run, isolated_home):
    d = device("msom", mode="dfu", device_os="5.0.0")
    with socket.socket() as s:           # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = isolated_home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({"apiUrl": f"http://127.0.0.1:{port}", "access_token": "tok-1"}))
    mark = len(d.log())
    code, out, err = run("update")
    assert code == 1
    first, hint = err.splitlines()[:2]
    assert first.startswith(f"Could not ask Particle's cloud for the latest Device OS for M-SoM: Could not reach "
                            f"the Particle cloud at http://127.0.0.1:{port}: ")
    assert hint.startswith("Nothing was written to the device. Check the connection and run the command again, or "
                           "name the version: particle update --target <version>")
    assert data_writes(d.log()[mark:]) == []


def test_a_platform_the_cloud_has_nothing_for(device, run, cloud):
    d = device("electron2", mode="dfu", device_os=None)
    server = cloud(d)
    code, out, err = run("update")
    assert code == 1
    assert err.splitlines()[0] == "There are currently no system firmware updates available for this device."
    assert "Particle's cloud names no Device OS release for Electron 2" in err
    assert ("GET", "/v1/device-os/versions/latest", 404) in _requests(server)


def test_a_pinned_platform_keeps_the_newest_pinned_release_offline(device, run, from_env):
    """Argon has pinned releases: no cloud is asked (none is configured here)."""
    d = device("argon", mode="dfu")
    code, out, err = run("update")
    assert code == 0, err
    assert d.led().startswith("breathing cyan")


# --- the answer's check ------------------------------------------------------------------------

def test_release_version_validator_examples():
    assert device_os_release_version({"version": "6.3.4", "platform_id": 32}, 32) == "6.3.4"
    assert device_os_release_version({"version": "6.0.0-alpha.2"}, 32) == "6.0.0-alpha.2"
    for bad in ({"version": "6.3.4", "platform_id": 12}, {"version": "6.3"}, {"version": "../6.3.4"},
                {"version": "06.3.4"}, {"version": 634}, {"version": "6.3.4\n"}, {"platform_id": 32},
                {"version": "6.3.4", "platform_id": True}, [], "6.3.4", None):
        assert device_os_release_version(bad, 32) is None, bad


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(JSON, st.fixed_dictionaries({"version": st.text(max_size=30)}, optional={"platform_id": JSON})),
       platform_id=st.one_of(st.none(), st.integers(0, 40)))
def test_release_version_is_none_or_a_plain_version_for_any_answer(body, platform_id):
    import re

    found = device_os_release_version(body, platform_id)
    if found is not None:
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?", found) and found == body["version"]
        assert found.isascii() and "/" not in found and ".." not in found
