"""The layers of docs/ARCHITECTURE.md, read from the imports: client code reaches the simulator
only through the transport seam in particle_py/usb (the pyusb backend and the serial port
backend), and the simulator imports no client code (only data tables and the error type)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))        # tests/helpers as `helpers`

from helpers.imports import imported_modules, module_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "particle_py"
SIM = PACKAGE / "sim"
# the seam, and `particle-sim`: the simulator's own front end
MAY_IMPORT_THE_SIMULATOR = {"particle_py.usb", "particle_py.cli.sim"}
# what the simulator may use of the package: pure data (the platform table, the module format's
# layout, the pinned releases, the control-request table) and the one error type (particle-sim's
# device administration raises it)
SHARED = ("particle_py.platforms", "particle_py.module_layout", "particle_py.release_table",
          "particle_py.errors", "particle_py.control_codes")


# the ground floor: stdlib only, pure data and contracts, importable from every floor
GROUND = ("particle_py.platforms", "particle_py.module_layout", "particle_py.cnum", "particle_py.errors",
          "particle_py.events", "particle_py.control_codes", "particle_py.release_table",
          "particle_py.private_files")


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def simulator_imports(names: set[str]) -> set[str]:
    return {n for n in names if n == "particle_py.sim" or n.startswith("particle_py.sim.")}


def test_client_code_reaches_the_simulator_only_through_the_usb_seam():
    reaching = {module_name(p, ROOT) for p in sources(PACKAGE)
                if SIM not in p.parents and simulator_imports(imported_modules(p, ROOT))}
    assert reaching == MAY_IMPORT_THE_SIMULATOR


def test_the_simulator_imports_no_client_code():
    for path in sources(SIM):
        client = {n for n in imported_modules(path, ROOT) if n.startswith("particle_py.")
                  and not simulator_imports({n}) and not any(n == d or n.startswith(d + ".") for d in SHARED)}
        assert client == set(), module_name(path, ROOT)


def test_serial_code_loads_no_simulator_on_hardware():
    code = ("import sys\n"
            "from particle_py.serial_link import backend, ports, transport, listening\n"
            "from particle_py.control import network\n"
            "from particle_py.ops import serial_ops\n"
            "assert backend.get_backend() is backend.PYSERIAL\n"
            "print(sorted(m for m in sys.modules if m.startswith('particle_py.sim')))")
    env = {k: v for k, v in os.environ.items() if k != "PARTICLE_PY_SIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_simulators_serial_backend_has_the_clients_port_shape(tmp_path, monkeypatch):
    from particle_py import usb
    from particle_py.serial_link.backend import PYSERIAL, RawPort, SerialBackend, get_backend
    from particle_py.sim.state import create_state

    create_state(tmp_path, ["photon-normal"], {})
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path))
    try:
        sim = get_backend()
        assert type(sim).__module__ == "particle_py.sim.serial_port_backend"
        assert isinstance(sim, SerialBackend) and isinstance(PYSERIAL, SerialBackend)
        [info] = sim.comports()
        assert (info.device, info.vid, info.pid) == ("/dev/ttyACM0", 0x2B04, 0xC006)
        assert isinstance(sim.open(info.device, 9600), RawPort)
    finally:
        usb.release_simulator()


def test_the_key_library_imports_only_itself_and_the_ground_floor():
    for path in sources(PACKAGE / "keys"):
        used = {n for n in imported_modules(path, ROOT) if n.startswith("particle_py.")
                and not any(n == m or n.startswith(m + ".") for m in ("particle_py.keys",) + GROUND)}
        assert used == set(), module_name(path, ROOT)


def _mutual(folder: Path, root: Path) -> set[tuple[str, str]]:
    imports = {module_name(p, root): imported_modules(p, root) for p in sources(folder)}
    return {tuple(sorted((a, b))) for a, used in imports.items() for b in used
            if b != a and b in imports and a in imports[b]}


def test_no_two_development_tools_import_each_other():
    # the package's own circles are test_floors.py's; tools/ is not shipped, so it is checked here
    assert _mutual(ROOT / "tools", ROOT / "tools") == set()
