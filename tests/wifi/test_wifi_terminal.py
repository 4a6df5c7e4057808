"""`particle wifi add` on a real terminal (a pty): the questions as a user sees them, and the
password typed without echo, so the terminal never shows it."""
import os
import time

from helpers.processes import Child, script

PASSWORD = "particle-sim-pass"


def answer(child, prompt, text, timeout=60):
    deadline = time.monotonic() + timeout
    while prompt.encode() not in child.buffers["out"][child.mark:]:
        assert time.monotonic() < deadline, (prompt, bytes(child.buffers["out"]))
        time.sleep(0.02)
    child.mark = len(child.buffers["out"])
    os.write(child.master, text.encode() + b"\r")


def test_add_on_a_terminal_hides_the_password(device, tmp_path):
    sim = device("p2")
    env = dict(os.environ, HOME=str(tmp_path), PARTICLE_PY_SIM=str(sim.dir), TERM="dumb")
    child = Child([script("particle"), "wifi", "add"], env, str(tmp_path), use_pty=True)
    child.mark = 0
    answer(child, "? Would you like to scan for Wi-Fi networks? [Y/n]:", "n")
    answer(child, "? SSID:", "particle-sim")
    answer(child, "Number:", "4")
    answer(child, "? Wi-Fi Password:", PASSWORD)
    answer(child, "? Is this a hidden network? [y/N]:", "")
    outcome = child.wait()
    assert outcome.status == 0, outcome.out
    assert PASSWORD not in outcome.out
    assert "Wi-Fi network 'particle-sim' added successfully." in outcome.out
    assert "? Select the security type for your Wi-Fi network:\r\n  1) NO_SECURITY\r\n" in outcome.out
    assert sim.wifi() == ([("particle-sim", 3, PASSWORD)], None)
