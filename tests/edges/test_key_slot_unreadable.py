"""Issue 23, "Smaller": `keys address` / `keys save` on a key slot the device's DFU mode does not
let us read said "Make sure your device is connected to your computer: Cannot read ..." with no
next step. The device is connected; the message now names the slot and the hint what to check."""
import pytest

# a Photon whose bootloader describes its DCT as 16 bytes: every key slot lies past it
SMALL_DCT = {"ALT1_NAME": "@DCT Flash   /0x00000000/01*016 e"}
HINT = ("Check that this is a Photon (`particle usb list` names what particle-py takes it for); if it is, its "
        "bootloader describes its memory wrongly: update it (`particle update`), then run the command again.")


@pytest.mark.parametrize("argv,message", [
    (["keys", "address"], "The server key slot (DCT address 2082, 512 bytes) cannot be read: the device's DFU mode "
                          "reports no readable memory at 0x00000822 on alt 1"),
    (["keys", "save", "saved", "--force"], "Error saving key from device: The device key slot (DCT address 34, 612 "
                                           "bytes) cannot be read: the device's DFU mode reports no readable memory "
                                           "at 0x00000022 on alt 1"),
])
def test_an_unreadable_key_slot_names_the_slot_and_the_next_step(sim, run, tmp_path, monkeypatch, argv, message):
    s = sim("photon:real=1", knobs=SMALL_DCT)
    monkeypatch.chdir(tmp_path)
    before = len(s.log())
    assert run(*argv) == (74, "", f"{message}\n{HINT}\n")
    assert not (tmp_path / "saved.der").exists() and not (tmp_path / "saved.pub.pem").exists()
    # nothing went to the device: no DNLOAD of data (block 2 and up) on the wire
    assert not [e for e in s.log()[before:] if e.get("event") == "control" and e.get("bRequest") == 1
                and e.get("bmRequestType") == 0x21 and e.get("wValue", 0) >= 2]
