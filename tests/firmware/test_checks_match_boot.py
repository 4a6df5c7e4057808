"""firmware.checks (what `flash --usb` predicts) against the simulator's boot model (sim/boot.py)
for generated Device OS contents: the same mode (normal, safe, DFU) for any versions and
dependencies of system parts, bootloader and app."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from helpers.modules import build_module
from particle_py.firmware import checks
from particle_py.firmware.module import ModuleFunction as F
from particle_py.platforms import by_name

PHOTON = by_name("photon")
BASE = 0x08000000
VERSIONS = st.sampled_from([6, 108, 207, 1512, 2301])


def dep(function, index):
    return st.one_of(st.none(), VERSIONS.map(lambda v: (function, index, v)))


module = st.fixed_dictionaries({"version": VERSIONS, "present": st.booleans()})


@settings(max_examples=60, deadline=None)
@given(part1=module, part2=module, app=module, boot=module,
       p1_dep=dep(F.BOOTLOADER, 0), p2_dep=dep(F.SYSTEM_PART, 1), app_dep=dep(F.SYSTEM_PART, 2))
def test_predicted_mode_is_the_boot_models(part1, part2, app, boot, p1_dep, p2_dep, app_dep):
    from particle_py.sim import boot as sim_boot

    flash = bytearray(b"\xff" * 0x100000)
    held = []
    plan = [(part1, F.SYSTEM_PART, 1, PHOTON.system_parts[0], p1_dep),
            (part2, F.SYSTEM_PART, 2, PHOTON.system_parts[1], p2_dep),
            (app, F.USER_PART, 1, PHOTON.user_part.address, app_dep),
            (boot, F.BOOTLOADER, 0, PHOTON.bootloader, None)]
    for spec, function, index, address, need in plan:
        if not spec["present"]:
            continue
        deps = (need,) if need else ()
        data = build_module("photon", function=function, index=index, version=spec["version"], size=1024,
                            start=address, deps=deps)
        flash[address - BASE:address - BASE + len(data)] = data
        held.append(checks.Held(function, index, spec["version"], deps))

    def read(alt, address, length):
        return bytes(flash[address - BASE:address - BASE + length])

    want, _why = sim_boot.check_firmware(read, PHOTON)
    got = checks.outcome(held, len(PHOTON.system_parts), modelled=frozenset({F.BOOTLOADER}),
                         app_known=True)
    assert got.mode == want
