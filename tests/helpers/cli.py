"""The `run` fixture the in-process command tests share: `run(*argv)` calls `particle`'s main()
with the arguments as strings and returns (exit status, stdout, stderr)."""
import pytest


@pytest.fixture
def run(capsys):
    from particle_py.cli.particle.main import main

    def go(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return go
