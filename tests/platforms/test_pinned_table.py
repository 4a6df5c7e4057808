"""The platform table agrees with the pinned device-constants (platform_constants.py): every
platform particle-cli 3.51.0 knows with a DFU mode is a Platform, and no hand-written fact
contradicts what Particle publishes."""
import pytest

from particle_py import platform_constants as pinned
from particle_py import platforms

DFU_CAPABLE = sorted(pid for pid, row in pinned.PLATFORMS.items() if row["dfu"])


def test_every_pinned_platform_with_a_dfu_mode_is_in_the_table_and_nothing_else_is():
    assert sorted(p.platform_id for p in platforms.PLATFORMS) == DFU_CAPABLE
    assert {"sulu", "electron2", "esomx", "msom", "trackerm"} <= set(platforms.names())


@pytest.mark.parametrize("platform", platforms.PLATFORMS, ids=lambda p: p.name)
def test_hand_written_facts_agree_with_the_pinned_constants(platform):
    row = pinned.PLATFORMS[platform.platform_id]
    assert (platform.name, platform.display_name, platform.generation, platform.mcu) == \
        (row["name"], row["display_name"], row["generation"], row["mcu"])
    assert (platform.usb_ids, platform.dfu_ids) == (row["usb"], row["dfu"])
    assert platform.control_out_needs_data_stage == row["control_out_needs_data_stage"]
    assert platform.public == row["public"]
    if {"tcp", "udp"} & set(row["features"]):       # the mesh-only boards list neither
        assert platform.default_protocol in row["features"]
    assert set(platforms.networks(platform)) == {"wifi", "cellular"} & set(row["features"])
    if row["factory_reset"]:
        assert (platform.factory_reset.address, platform.factory_reset.alt) == row["factory_reset"]
    if row["former_user_part"]:
        assert (platform.former_user_part.address, platform.former_user_part.size) == row["former_user_part"]
    if row["user_part_max"]:
        assert platform.user_part.max_size == row["user_part_max"]
        assert platform.user_part.grows_left == row["user_part_grows_left"]
    for alias in row["aliases"]:
        found = platforms.by_name(alias)
        assert found is None or found is platform, alias


def test_the_pinned_features_reach_the_platforms():
    sulu = platforms.by_name("sulu")
    assert (sulu.platform_id, sulu.usb_ids, sulu.dfu_ids) == (38, (0x2B04, 0xC026), (0x2B04, 0xD026))
    assert sulu.device_protection and sulu.encrypted_bootloaders == (1,)
    assert platforms.by_name("tracker").has_ncp and not platforms.by_name("boron").has_ncp
    assert not platforms.by_name("photon").device_protection
    assert [p.name for p in platforms.PLATFORMS if p.device_protection] == [
        "argon", "boron", "esomx", "bsom", "b5som", "tracker", "trackerm", "p2", "msom", "sulu"]


@pytest.mark.parametrize("vid,pid,text", [
    (0x2B04, 0xC0FF, "this particle-py does not know platform 255 (USB 2b04:c0ff, normal mode); "
                     "a newer particle-py may"),
    (0x2B04, 0xD027, "this particle-py does not know platform 39 (USB 2b04:d027, DFU mode); a newer particle-py may"),
    (0x2B04, 0xC02A, "Tachyon (platform 42, USB 2b04:c02a) is not a device particle-py works with over USB"),
    (0x2B04, 0xC026, None), (0x0483, 0xDF11, None), (0x2B04, 0x1234, None)])
def test_a_particle_device_the_table_does_not_know_is_named_by_its_usb_ids(vid, pid, text):
    assert platforms.unknown_device_text(vid, pid) == text
