"""Issue 23, "Smaller": `particle usb configure` kept no copy of an existing, different
50-particle.rules it replaced. Now the old file is kept as 50-particle.rules.bak (udev reads only
*.rules, so the copy does nothing), never overwritten by a later run."""
from particle_py.events import LineReporter
from particle_py.ops import host_setup

RELOAD = "sudo udevadm control --reload-rules && sudo udevadm trigger"


def run(rules_dir):
    lines = []
    outcome = host_setup.configure("linux", rules_dir=str(rules_dir), reporter=LineReporter(lines.append))
    return outcome, lines


def test_a_different_rules_file_is_kept_before_it_is_replaced(tmp_path):
    tmp_path = tmp_path / "rules.d"
    tmp_path.mkdir()
    target = tmp_path / "50-particle.rules"
    mine = b'# my own rules\nSUBSYSTEMS=="usb", ATTRS{idVendor}=="2b04", GROUP="lab"\n'
    target.write_bytes(mine)
    outcome, lines = run(tmp_path)
    assert outcome == "installed"
    assert lines[:3] == [f"Kept the previous 50-particle.rules as {tmp_path / '50-particle.rules.bak'}",
                         f"Writing {target}", "udev rules installed. Make udev read them now with:"]
    assert (tmp_path / "50-particle.rules.bak").read_bytes() == mine
    assert target.read_bytes() == host_setup.rules_source().read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["50-particle.rules", "50-particle.rules.bak"]


def test_a_second_different_file_gets_its_own_copy_and_the_first_copy_stays(tmp_path):
    tmp_path = tmp_path / "rules.d"
    tmp_path.mkdir()
    target = tmp_path / "50-particle.rules"
    first, second = b"# first\n", b"# second\n"
    target.write_bytes(first)
    run(tmp_path)
    target.write_bytes(second)
    outcome, lines = run(tmp_path)
    assert outcome == "installed" and lines[0] == (f"Kept the previous 50-particle.rules as "
                                                   f"{tmp_path / '50-particle.rules.bak.1'}")
    assert (tmp_path / "50-particle.rules.bak").read_bytes() == first
    assert (tmp_path / "50-particle.rules.bak.1").read_bytes() == second
    # the same old file again: its copy is there already, no third one
    target.write_bytes(first)
    assert run(tmp_path)[1][0] == f"Writing {target}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["50-particle.rules", "50-particle.rules.bak",
                                                          "50-particle.rules.bak.1"]


def test_an_up_to_date_file_and_a_fresh_install_make_no_copy(tmp_path):
    tmp_path = tmp_path / "rules.d"
    tmp_path.mkdir()
    assert run(tmp_path)[1][0] == f"Writing {tmp_path / '50-particle.rules'}"
    assert run(tmp_path)[0] == "already"
    assert [p.name for p in tmp_path.iterdir()] == ["50-particle.rules"]
