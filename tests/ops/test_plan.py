"""The flash plan: checks, destinations and order, before any device is involved."""
import pytest
from hypothesis import given, settings, strategies as st

from helpers.modules import build_module
from particle_py.errors import ParticlePyError
from particle_py.firmware.module import ModuleFunction as F
from particle_py.ops.flash import FlashSource, plan, read_local_files
from particle_py.platforms import by_name


def src(name, data):
    return FlashSource(name, data)


def test_user_part_goes_to_its_header_address_on_alt_0():
    for name, addr in (("photon", 0x080A0000), ("electron", 0x08080000), ("argon", 0xB4000), ("core", 0x08005000)):
        steps = plan([src("a.bin", build_module(name))], by_name(name))
        assert [(s.alt, s.address) for s in steps] == [(0, addr)]


def test_p2_user_part_grows_left_and_must_end_by_the_region_address():
    p2 = by_name("p2")
    steps = plan([src("a.bin", build_module("p2", size=49152))], p2)
    assert steps[0].address == 0x08600000 - 49152
    with pytest.raises(ParticlePyError, match="outside the user part"):
        plan([src("b.bin", build_module("p2", size=4096, start=0x08600000))], p2)


def test_gen3_factory_address_is_mapped_into_the_external_flash_alt():
    steps = plan([src("a.bin", build_module("boron"))], by_name("boron"), factory=True)
    assert (steps[0].alt, steps[0].address) == (2, 0x80200000)


def test_photon_factory_slot_is_on_internal_flash():
    steps = plan([src("a.bin", build_module("photon"))], by_name("photon"), factory=True)
    assert (steps[0].alt, steps[0].address) == (0, 0x080E0000)


def test_overlapping_modules_are_refused():
    a = build_module("photon", seed=1)
    b = build_module("photon", seed=2)
    with pytest.raises(ParticlePyError, match="overlap"):
        plan([src("a.bin", a), src("b.bin", b)], by_name("photon"))


def test_dependency_order_is_stable_for_unrelated_modules():
    p = by_name("electron")
    parts = [build_module("electron", function=F.SYSTEM_PART, index=i, deps=((F.SYSTEM_PART, i - 1, 1),) if i > 1 else (),
                          size=8192, seed=i) for i in (3, 1, 2)]
    steps = plan([src(f"p{i}.bin", d) for i, d in zip((3, 1, 2), parts)], p)
    assert [s.source.label for s in steps] == ["p1.bin", "p2.bin", "p3.bin"]


def test_read_local_files_errors_before_any_device(tmp_path):
    with pytest.raises(ParticlePyError, match="You must specify a device or a file"):
        read_local_files([])
    with pytest.raises(ParticlePyError, match="You cannot flash a directory over USB"):
        read_local_files([str(tmp_path)])
    z = tmp_path / "b.zip"
    z.write_bytes(b"PK")
    with pytest.raises(ParticlePyError, match="particle flash --local"):
        read_local_files([str(z)])
    assert read_local_files(["tinker"]) == [("tinker", None)]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=6000), st.sampled_from(["photon", "argon", "p2", "core", "electron"]))
def test_arbitrary_files_are_refused_cleanly_or_planned_inside_writable_memory(data, name):
    platform = by_name(name)
    try:
        steps = plan([src("x.bin", data)], platform)
    except ParticlePyError:
        return
    from particle_py.ops.memory import MemoryMap
    for s in steps:
        mm = MemoryMap.from_layout_string(platform.dfu_layouts[s.alt])
        assert mm.all(s.address, s.address + len(s.data), "writable")


def test_gen3_256k_app_wipes_the_old_128k_app_header():
    from particle_py.ops.flash import INVALIDATE_LABEL
    app = build_module("argon", deps=((F.SYSTEM_PART, 1, 3103),))
    steps = plan([src("a.bin", app)], by_name("argon"))
    assert [(s.source.label, s.address, len(s.data)) for s in steps] == [
        (INVALIDATE_LABEL, 0xD4000, 4096), ("a.bin", 0xB4000, len(app))]
    assert steps[0].data == b"\xff" * 4096
    # older Device OS, or an app that covers 0xD4000 itself: nothing extra
    assert len(plan([src("a.bin", build_module("argon", deps=((F.SYSTEM_PART, 1, 2000),)))], by_name("argon"))) == 1
    big = build_module("argon", size=0x21000, deps=((F.SYSTEM_PART, 1, 3103),))
    assert len(plan([src("b.bin", big)], by_name("argon"))) == 1


def test_headerless_known_app_goes_to_the_platform_user_part():
    """core_tinker.bin predates module headers: particle-cli sends it to the user part."""
    from particle_py.firmware import known_apps

    app = known_apps.find("core", "tinker")
    body = bytes((i * 31) % 256 for i in range(app.size))
    steps = plan([FlashSource(app.filename, body, known_app=app)], by_name("core"))
    assert [(s.alt, s.address, len(s.data)) for s in steps] == [(0, 0x08005000, app.size)]
    steps = plan([FlashSource(app.filename, body, known_app=app)], by_name("core"), factory=True)
    assert [(s.alt, s.address) for s in steps] == [(1, 0x00020000)]
    # a headerless file for a Core is an old (pre-0.4) application image: same place
    steps = plan([FlashSource("firmware.bin", body)], by_name("core"))
    assert [(s.alt, s.address) for s in steps] == [(0, 0x08005000)]
    # other platforms need a module header
    with pytest.raises(ParticlePyError, match="no Particle module header"):
        plan([FlashSource("firmware.bin", body)], by_name("photon"))
    # and the Core's user part ends with its internal flash
    with pytest.raises(ParticlePyError, match="does not fit"):
        plan([FlashSource("firmware.bin", body * 2)], by_name("core"))
