"""Any `particle serial ...` / `particle identify` command line ends with an exit status and a
message, never a traceback or a hang (modelled time: no test waits for real timeouts)."""
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers.serial_profiles import profile

WORDS = ["serial", "list", "identify", "mac", "inspect", "wifi", "monitor", "--port", "--file", "--follow",
         "1", "2", "0", "-1", "/dev/ttyACM0", "/dev/ttyACM7", "COM3", "w.json", "bad.json", "--help",
         "3a0035000f47343432313031", "nope"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), min_size=1, max_size=5),
       st.booleans())
def test_serial_command_lines_end_with_a_status(sim, run, tmp_path, monkeypatch, argv, listening):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.json").write_text('{"network": "n", "security": "WPA2_AES", "password": "p"}')
    (tmp_path / "bad.json").write_text("{")
    s = sim(profile("photon", fw="0.7.0"), profile("electron", fw="2.3.1"))
    s.seed(index=0, version="0.7.0")
    if listening:
        run("usb", "start-listening", "3a0035000f47343432313031")
    argv = (["serial"] if argv[0] not in ("serial", "identify") else []) + argv
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    try:
        code, out, err = run(*argv)
    except Exception as exc:
        raise AssertionError(f"particle {argv!r} raised {exc!r}") from exc
    assert isinstance(code, int) and 0 <= code < 256
    assert "Traceback" not in err + out
    if code:
        assert err.strip(), f"particle {argv}: exit {code} with nothing on stderr"
