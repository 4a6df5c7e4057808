"""`particle flash --local <files...>` (particle-cli 3.51's recipe): an app, or a bundle of it,
over USB with the Device OS it needs first; --target names the release, --application-only adds
none; a device that cannot run the app is never left so without the output saying so."""
import os
import zipfile

import pytest

from particle_py.firmware.module import parse
from particle_py.platforms import by_name
from particle_py.sim import contents

STAND_IN = "6.3.4"


def app_file(tmp_path, platform, needs, name="app.bin", seed=9):
    data = contents.user_app(by_name(platform), needs, seed=seed)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def app_in_flash(d, data) -> bool:
    module = parse(data)
    return d.peek(0, module.prefix.start, len(data)) == data


def stand_in_part_in_flash(d, platform) -> bool:
    address, module = contents.device_os(by_name(platform), STAND_IN, part_size=64 * 1024)[0]
    payload = parse(module).payload()
    return d.peek(0, address, len(payload)) == payload


def _requests(server):
    return [(m, p, s) for m, p, s in server.db._q("SELECT method, path, status FROM requests")]


@pytest.mark.parametrize("platform", ["p2", "msom"])
def test_the_app_brings_the_device_os_it_needs(device, run, cloud, tmp_path, platform):
    d = device(platform, mode="normal", device_os="5.0.0")
    server = cloud(d)
    path, data = app_file(tmp_path, platform, STAND_IN)
    code, out, err = run("flash", "--local", path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Device OS {STAND_IN} first: the app needs it (the device has 5.0.0)"
    assert f"Flashing {platform}-system-part1@{STAND_IN}.bin" in lines and "Flashing app.bin" in lines
    assert lines.index(f"Flashing {platform}-system-part1@{STAND_IN}.bin") < lines.index("Flashing app.bin")
    assert lines[-1] == "Flash success!"
    # the app's dependency asked by its module version, as 3.51 asks
    assert ("GET", f"/v1/device-os/versions/{contents.module_version(STAND_IN)}", 200) in _requests(server)
    assert stand_in_part_in_flash(d, platform) and app_in_flash(d, data)
    assert d.led().startswith("breathing cyan"), d.led()


def test_a_pinned_release_needs_no_cloud(device, run, release_dirs, tmp_path, monkeypatch):
    """Argon on 1.5.2, an app built against Device OS 4.0.2's system part (module version 4006):
    4.0.2 is pinned, its files given, no cloud configured."""
    monkeypatch.setenv("PARTICLE_PY_DEVICE_OS_FROM", os.pathsep.join(release_dirs))
    d = device("argon", mode="normal", device_os="1.5.2")
    path, data = app_file(tmp_path, "argon", "4.0.6")          # module version 4006 = 4.0.2's system part
    code, out, err = run("flash", "--local", path)
    assert code == 0, err
    assert out.splitlines()[0] == "Device OS 4.0.2 first: the app needs it (the device has 1.5.2)"
    assert "Flashing argon-system-part1@4.0.2.bin" in out.splitlines()
    assert app_in_flash(d, data)
    assert d.led().startswith("breathing cyan"), d.led()


def test_application_only_flashes_the_app_alone_and_says_it_will_run_in_safe_mode(device, run, cloud, tmp_path):
    d = device("p2", mode="normal", device_os="5.0.0")
    server = cloud(d)
    path, data = app_file(tmp_path, "p2", STAND_IN)
    code, out, err = run("flash", "--local", path, "--application-only")
    assert code == 0, err
    lines = out.splitlines()
    assert not any(line.startswith("Flashing p2-system-part1") for line in lines)
    assert any("will run in safe mode (breathing magenta) until Device OS is updated" in line for line in lines), out
    assert "Flash success!" not in lines
    assert app_in_flash(d, data) and not stand_in_part_in_flash(d, "p2")
    assert d.led().startswith("breathing magenta"), d.led()
    assert not [r for r in _requests(server) if r[1].startswith("/v1/device-os/")]


def test_target_names_the_release_in_dfu_mode(device, run, cloud, tmp_path):
    d = device("p2", mode="dfu", device_os="5.0.0")
    cloud(d)
    path, data = app_file(tmp_path, "p2", "5.0.0")
    code, out, err = run("flash", "--local", path, "--target", STAND_IN)
    assert code == 0, err
    assert out.splitlines()[0] == f"Device OS {STAND_IN} first, as --target asks"
    assert stand_in_part_in_flash(d, "p2") and app_in_flash(d, data)
    assert d.led().startswith("breathing cyan"), d.led()


def test_an_app_the_device_os_already_serves_goes_alone(device, run, cloud, tmp_path):
    d = device("p2", mode="normal", device_os="5.0.0")
    server = cloud(d)
    path, data = app_file(tmp_path, "p2", "5.0.0")
    code, out, err = run("flash", "--local", path)
    assert code == 0, err
    assert "first" not in out and out.splitlines()[-1] == "Flash success!"
    assert app_in_flash(d, data) and not stand_in_part_in_flash(d, "p2")
    assert not [r for r in _requests(server) if r[1].startswith("/v1/firmware/")]


def test_not_logged_in_the_app_goes_alone_and_the_output_says_safe_mode(device, run, tmp_path):
    d = device("p2", mode="normal", device_os="5.0.0")
    path, data = app_file(tmp_path, "p2", STAND_IN)
    code, out, err = run("flash", "--local", path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("Which Device OS release the app needs (system part version 6304) is not known here: "
                        "flashing the app alone (--target <version> names one).")
    assert any("will run in safe mode (breathing magenta)" in line for line in lines)
    assert d.led().startswith("breathing magenta")


def test_a_bundle_of_the_app(device, run, cloud, tmp_path):
    d = device("p2", mode="normal", device_os="5.0.0")
    cloud(d)
    _path, data = app_file(tmp_path, "p2", "5.0.0")
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("firmware.bin", data)
    code, out, err = run("flash", "--local", bundle)
    assert code == 0, err
    assert "Flashing firmware.bin" in out.splitlines()
    assert app_in_flash(d, data)


def test_a_bundle_with_assets_is_refused_before_the_device_is_touched(device, run, tmp_path):
    d = device("p2", mode="normal", device_os="5.0.0")
    _path, data = app_file(tmp_path, "p2", "5.0.0")
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("firmware.bin", data)
        z.writestr("assets/logo.bmp", b"BM" + b"\0" * 64)
    mark = len(d.log())
    code, out, err = run("flash", "--local", bundle)
    assert code == 1
    assert err.splitlines()[0] == (f"{bundle} holds assets (assets/logo.bmp); particle-py cannot send assets to a "
                                   "device yet")
    assert "Nothing was written to the device" in err
    assert not [e for e in d.log()[mark:] if e.get("event") == "control" and e.get("bmRequestType") == 0x21]
    assert not app_in_flash(d, data)


@pytest.mark.parametrize("content,why", [(b"not a zip", "is not a readable bundle")])
def test_a_broken_bundle_is_refused(device, run, tmp_path, content, why):
    device("p2", mode="normal", device_os="5.0.0")
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(content)
    code, out, err = run("flash", "--local", bundle)
    assert code == 1 and why in err.splitlines()[0]


def test_target_without_local_is_a_usage_error(run, tmp_path):
    code, out, err = run("flash", "--usb", tmp_path / "x.bin", "--target", "6.3.4")
    assert code == 64
    assert "--target and --application-only go with --local" in err


def test_an_invalid_target(device, run, tmp_path):
    device("p2", mode="normal", device_os="5.0.0")
    path, _data = app_file(tmp_path, "p2", "5.0.0")
    code, out, err = run("flash", "--local", path, "--target", "six")
    assert code == 1 and err.splitlines()[0] == "Invalid version: six"


# --- the bundle reader: outside input ------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


def _zip_bytes(members) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in dict(members).items():        # one member per name (zipfile warns otherwise)
            z.writestr(name, data)
    return buf.getvalue()


NAMES = st.text(st.sampled_from("ab./\\.-_x0"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=300),
                     st.lists(st.tuples(NAMES, st.binary(max_size=40)), max_size=5).map(_zip_bytes)),
       cut=st.integers(0, 400))
def test_any_bundle_is_read_or_refused_and_writes_only_into_its_folder(tmp_path_factory, raw, cut):
    from particle_py.errors import ParticlePyError
    from particle_py.ops.flash_local import unpack_bundles

    base = tmp_path_factory.mktemp("bundle")
    bundle, folder = base / "in.zip", base / "out"
    folder.mkdir()
    bundle.write_bytes(raw[:cut] if cut < len(raw) else raw)
    try:
        found = unpack_bundles([str(bundle)], str(folder))
    except ParticlePyError as err:
        assert err.message and err.hint and "Nothing was written" in err.hint
        return
    for path in found:
        assert os.path.dirname(path) == str(folder) and path.endswith(".bin")
    assert sorted(p.name for p in base.rglob("*") if p.is_file()) == sorted(
        ["in.zip"] + [os.path.basename(p) for p in found])
