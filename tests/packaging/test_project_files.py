"""What users and packagers read: the README documents every PARTICLE_PY_* variable the code
reads, the version is written once, the licence files exist and are declared."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"PARTICLE_PY_[A-Z][A-Z0-9_]*[A-Z0-9]")


def variables_in(*folders: str) -> set[str]:
    found = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in ("", ".py", ".sh") and "__pycache__" not in path.parts:
                found |= set(VARIABLE.findall(path.read_text(errors="replace")))
    return found


def test_every_environment_variable_is_in_the_readme():
    readme = ROOT.joinpath("README.md").read_text()
    used = variables_in("particle_py", "scripts", "tools", "tests/umockdev")
    assert "PARTICLE_PY_SIM" in used and "PARTICLE_PY_LIBUSB" in used
    missing = sorted(v for v in used if f"`{v}" not in readme)
    assert missing == []


def test_the_readme_opens_with_the_two_commands_then_installation():
    readme = ROOT.joinpath("README.md").read_text()
    head = readme[:readme.index("## Install")]
    assert "./scripts/demo" in head and "./scripts/test" in head
    install = readme[readme.index("## Install"):][:1400]
    # what works today comes first (a clone, a built wheel); the index name only with its caveat
    assert install.index("pipx install .") < install.index("pip wheel --no-deps -w dist .") \
        < install.index("pipx install particle-py")
    assert "not on the Python Package Index yet" in install


def test_the_readme_has_a_first_section_for_the_owner_from_a_forum_thread():
    readme = ROOT.joinpath("README.md").read_text()
    sections = re.findall(r"^## (.+)$", readme, re.M)
    assert sections[0].startswith("Arrived from a forum thread")
    first = readme[readme.index("## " + sections[0]):readme.index("## " + sections[1])]
    assert "\nparticle doctor\n" in first                      # the one command to try first
    assert "particle doctor --dry-run --json" in first and "particle --version" in first   # what to post


def test_one_version_source_and_spdx_licence_metadata():
    tomllib = pytest.importorskip("tomllib")          # Python 3.11+
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "particle_py.__version__"}
    assert project["project"]["license"] == "MIT"
    for name in project["project"]["license-files"]:
        assert (ROOT / name).is_file(), name
    assert ROOT.joinpath("LICENSE").read_text().startswith("MIT License")
    version = re.search(r'__version__ = "([^"]+)"', ROOT.joinpath("particle_py/__init__.py").read_text()).group(1)
    assert f"## [{version}]" in ROOT.joinpath("CHANGELOG.md").read_text()


def test_development_tools_are_not_in_the_package():
    assert not (ROOT / "particle_py" / "bench.py").exists()
    assert not (ROOT / "particle_py" / "sim" / "umockdev_bridge.py").exists()
    assert (ROOT / "tools" / "bench.py").is_file() and (ROOT / "tools" / "umockdev_bridge.py").is_file()
