"""`particle` alone and `particle help`: particle-cli 3.51's welcome banner, usage and command
list (its src/app/cli.js and yargs' layout), with particle-py's version and its commands."""
import pytest

from particle_py import __version__


def expected_head():
    return ("Welcome to the Particle Command Line Interface!\n"
            f"Version {__version__} (particle-py)\n"
            "https://github.com/particle-iot/particle-cli\n\n"
            "Usage: particle <command>\n"
            "Help:  particle help <command>\n\n"
            "Commands:\n")


@pytest.mark.parametrize("argv", [(), ("help",), ("-v",), ("help", "-v")])
def test_the_welcome(particle, argv):
    code, out, err = particle(*argv)
    assert (code, err) == (0, "")
    assert out.startswith(expected_head())
    commands = out[len(expected_head()):].split("\n\n")[0].splitlines()
    names = [line.split()[0] for line in commands]
    assert names == sorted(names) and "help" not in names
    assert {"keys", "flash", "usb", "serial", "wifi", "list", "update", "doctor"} <= set(names)
    # yargs' columns: two spaces, the names padded to the longest and two spaces more
    width = max(len(n) for n in names) + 2
    assert all(line[2 + width - 2:2 + width] == "  " and line[2 + width] != " " for line in commands)
    assert "  wifi" + " " * (width - 4) + "Configure Wi-Fi credentials to your device (Supported on Gen 3+ devices)" \
        in commands
    assert out.endswith("\nFor more information, visit our documentation at https://docs.particle.io\n\n")


def test_help_of_a_command_is_still_its_help(particle):
    code, out, _ = particle("help", "wifi")
    assert code == 0 and out.startswith("Usage: particle wifi [OPTIONS] COMMAND [ARGS]...")
