"""A simulated device's port served on a real pseudo-terminal, read through pyserial: the
transport code that runs on hardware (timeouts, batches, line speeds) against the model."""
import os
import threading

import pytest

from helpers.serial_profiles import DEVICE_IDS, profile

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")


@pytest.fixture
def served(sim, run):
    from particle_py.sim.serial_pty import PtyServer

    servers = []

    def start(spec, seed=False, listen=False):
        s = sim(spec)
        if seed:
            s.seed()
        if listen:
            assert run("usb", "start-listening")[0] == 0
        server = PtyServer(s.dir)
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        servers.append((server, thread))
        return s, server
    yield start
    for server, thread in servers:
        server.stop.set()
        thread.join(timeout=5)
        server.close()


def test_pyserial_reads_identify_and_describe(served):
    from particle_py.serial_link import listening
    from particle_py.serial_link.backend import PYSERIAL
    from particle_py.serial_link.transport import open_port

    s, server = served(profile("electron", fw="2.3.1"), seed=True, listen=True)
    reply = listening.query(server.path, "i", listening.parse_identify, port=open_port(server.path, 9600, PYSERIAL))
    assert reply.device_id == DEVICE_IDS["electron"] and reply.imei and reply.iccid
    with open_port(server.path, 9600, PYSERIAL) as port:
        describe = listening.query(server.path, "s", listening.parse_describe, port=port)
        assert describe.platform_id == 10
        assert [m.function for m in describe.modules if m.function] == ["s", "s", "s", "u"]
        assert listening.query(server.path, "v", listening.parse_version, port=port) == "2.3.1"


def test_no_answer_outside_listening_mode_ends_at_the_timeout(served):
    from particle_py.errors import ParticlePyError
    from particle_py.serial_link import listening
    from particle_py.serial_link.backend import PYSERIAL
    from particle_py.serial_link.transport import open_port

    _s, server = served(profile("photon"))
    with pytest.raises(ParticlePyError) as info:
        listening.ask(server.path, "i", timeout_s=0.3, port=open_port(server.path, 9600, PYSERIAL))
    assert info.value.message.startswith("Serial timed out")


def test_line_speeds_switch_modes(served):
    """28800 baud: listening mode; 14400: DFU mode (what the device holds, read from its folder)."""
    from particle_py.serial_link.backend import PYSERIAL
    from particle_py.serial_link.transport import open_port

    s, server = served(profile("argon"))
    port = open_port(server.path, 28800, PYSERIAL)
    for _ in range(500):
        if s.devices()[0].mode == 1:
            break
        port.read_some(0.01)
    assert s.devices()[0].mode == 1
    port.raw.ser.baudrate = 14400
    for _ in range(500):
        if s.devices()[0].pid == 0xD00C:
            break
        port.read_some(0.01)
    port.close()
    assert [(d.pid, d.profile.device_id) for d in s.devices()] == [(0xD00C, DEVICE_IDS["argon"])]


def test_identify_by_a_port_path_alone_asks_the_device(served, run, monkeypatch):
    """A port particle-py cannot place (no USB serial number to read): `i` and `v` over serial,
    as particle-cli up to 3.20 did."""
    _s, server = served(profile("photon", fw="0.7.0"), listen=True)
    monkeypatch.delenv("PARTICLE_PY_SIM")
    code, out, err = run("serial", "identify", "--port", server.path)
    assert (code, out, err) == (0, f"Your device id is {DEVICE_IDS['photon']}\n"
                                   "Your system firmware version is 0.7.0\n", "")
