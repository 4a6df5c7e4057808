"""`particle keys server --all` then `particle keys doctor --all`: the seed's two bad keys, one
command each, on every device at once."""


def test_keys_server_then_keys_doctor_on_every_device(fleet):
    ids = fleet.create_many(["photon"] * 3, "--key", "corrupt", "--server-key", "wrong")
    code, out, err = fleet.particle("keys", "server", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: keys server succeeded."
    assert [line.split()[3:6] for line in out.splitlines()[-4:-1]] == [["server", "key", "written"]] * 3
    code, out, err = fleet.particle("keys", "doctor", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: keys doctor succeeded."
    for device_id in ids:
        assert f"[{device_id} 1-{2 + ids.index(device_id)}] submitting public key succeeded!" in out.splitlines()
    assert list(fleet.leds().values()) == ["LED: breathing cyan (connected to the cloud)"] * 3


def test_one_id_keeps_the_single_device_output(fleet):
    ids = fleet.create_many(["photon"] * 2, "--server-key", "wrong")
    code, out, err = fleet.particle("keys", "server", "--device", ids[1])
    assert code == 0, out + err
    assert not any(line.startswith("[") for line in out.splitlines())       # no per-device prefix
    assert "succeeded." not in out


def test_each_device_has_its_own_bar_row_on_a_terminal():
    import io
    import threading

    from particle_py import events
    from particle_py.cli import render

    lock = threading.Lock()
    lines: list = []
    screens = []
    for row, label in enumerate(["aaa 1-2", "bbb 1-3"]):
        screen = io.StringIO()
        rep = render.DeviceLines(label, lock, bars=True, row=row, out=lines.append, bar_file=screen)
        rep.emit(events.Step("Flashing tinker.bin"))
        rep.emit(events.Progress("tinker.bin", 0, 100))
        rep.emit(events.Progress("tinker.bin", 50, 100))
        assert list(rep._bars) == [f"{label} tinker.bin"]
        rep.close()
        screens.append(screen.getvalue())
    assert lines == ["[aaa 1-2] Flashing tinker.bin", "[bbb 1-3] Flashing tinker.bin"]
    assert "aaa 1-2 tinker.bin" in screens[0] and "bbb 1-3 tinker.bin" in screens[1]
    assert "\x1b[A" in screens[1]         # the second device draws one row down, and comes back up


def test_keys_doctor_on_two_ids(fleet):
    ids = fleet.create_many(["photon"] * 3, "--key", "corrupt")
    code, out, err = fleet.particle("keys", "doctor", ids[0], ids[1])
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: keys doctor succeeded."
    leds = fleet.leds()
    assert leds[ids[0]] == leds[ids[1]] == "LED: breathing cyan (connected to the cloud)"
    assert leds[ids[2]] != leds[ids[0]]                     # the third was not named
