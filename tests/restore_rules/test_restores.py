"""Restores against the boot model, each ending as Particle's web Device Restore leaves the device."""
from __future__ import annotations


def _clear_setup_done(world) -> None:
    from particle_py.sim.bus import SimBus

    with SimBus.session(world.state) as bus:
        bus.devices()[0].memory(1).poke(8134, b"\xff")


def test_a_gen3_device_restored_to_2_x_without_the_flag_gets_it(world, peers):
    # Device OS below 4 reads the DCT's setup-done byte (offset 8134) at boot and starts in
    # listening mode without 0x01 there, as a board whose DCT was erased does
    world.create("argon", "--device-os", "1.5.2")
    world.releases(*peers)
    _clear_setup_done(world)
    assert world.setup_pending()
    code, out, _err = world.particle("update", "--target", "2.2.0")
    assert code == 0 and out.splitlines()[-1] == "Update success!"
    assert world.device()._read_board(1, 8134, 1) == b"\x01"
    assert world.boots()[0] == "normal" and not world.setup_pending()


def test_a_restore_to_4_x_leaves_the_flag_alone(world, peers):
    world.create("argon", "--device-os", "1.5.2")
    world.releases(*peers)
    _clear_setup_done(world)
    assert world.particle("update", "--target", "4.0.2")[0] == 0
    assert world.device()._read_board(1, 8134, 1) == b"\xff"
    assert world.boots()[0] == "normal" and not world.setup_pending()      # 4.x does not read it


def test_a_brn402_downgrade_from_2_x_passes_through_1_5_2(world, peers):
    world.create("boron", "--device-os", "2.2.0")
    world.stand_in_release("boron", "1.5.2", seed=20)
    world.stand_in_release("boron", "1.4.4", seed=40)
    code, out, _err = world.particle("update", "--target", "1.4.4")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "Device OS 1.5.2 first: a BRN402/B402 going from 2.x to 1.5.1 or older must install 1.5.2 first"
    assert lines[1].startswith("Updating boron ") and lines[1].endswith(" to Device OS version 1.5.2")
    assert [line for line in lines if line.startswith("Updating boron ")][1].endswith("to Device OS version 1.4.4")
    dev = world.device()
    assert dev.running_version() == "1.4.4"
    assert dev._read_board(1, 8134, 1) == b"\x01"
    # the app the device had was built for 2.2.0: Device OS 1.4.4 keeps it from running (safe
    # mode) until an app for 1.4.4 is flashed, the step the web restore does with its Tinker
    mode, reason = world.boots()
    assert mode == "safe", reason


def test_a_p2_restore_never_writes_the_encrypted_prebootloader_part(world, tmp_path):
    from particle_py.module_layout import ModuleFunction
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    world.create("p2", "--device-os", "6.2.1")
    part1 = contents.build_module(by_name("p2"), function=ModuleFunction.BOOTLOADER, index=1, version=3000,
                                  size=4096, start=0x08014000, deps=(), seed=3)
    path = tmp_path / "p2-prebootloader-part1@6.2.1.bin"
    path.write_bytes(part1)
    before = world.device()._read_board(0, 0x08014000, 4096)
    code, out, err = world.particle("flash", "--usb", path)
    assert code == 1
    assert err.startswith(f"{path} is not written: the rtl872x prebootloader part 1 is encrypted on the device and "
                          "is never written over USB")
    assert world.device()._read_board(0, 0x08014000, 4096) == before
    # beside an app, it is left out and the app is written
    app = tmp_path / "app-p2.bin"
    name, address, data = contents.stand_in_files(by_name("p2"), "6.2.1")[-1]
    app.write_bytes(data)
    code, out, _err = world.particle("flash", "--usb", path, app)
    assert code == 0 and out.splitlines()[-1] == "Flash success!"
    assert world.device()._read_board(0, 0x08014000, 4096) == before
    assert world.device()._read_board(0, address, len(data)) == data


def test_msom_tinker_6_3_4_on_6_3_4_says_the_device_os_it_needs(world, peers):
    """Particle's M-SoM Tinker 6.3.4 depends on system part 6305: on 6.3.4 it runs in safe mode,
    and the release that ends that is named."""
    import os
    from pathlib import Path
    PEERS = Path(os.environ["PARTICLE_PY_PEERS"])      # the peers fixture sets it

    tinker = PEERS / "particle-cli-3.51.0" / "node_modules" / "particle-cli" / "assets" / "knownApps" / "msom" \
        / "tinker" / "tinker-6.3.4-msom.bin"
    if not tinker.is_file():
        import pytest
        pytest.skip("needs particle-cli 3.51.0 in the peer cache")
    world.create("msom", "--device-os", "6.3.4")
    code, out, _err = world.particle("flash", "--usb", tinker)
    assert code == 0
    assert out.splitlines()[-2:] == [
        "Flash done, but the M-SoM will run in safe mode (breathing magenta) until Device OS is updated: "
        "tinker-6.3.4-msom.bin (user part version 6) needs system part 1 version 6305 or newer; the device has "
        "version 6304.", "Update Device OS with: particle update --target 6.3.5"]
    mode, reason = world.boots()
    assert mode == "safe", reason
