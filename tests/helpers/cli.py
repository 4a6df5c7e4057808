"""The in-process front end the command tests share: `run(*argv)` (also as `particle`) calls
`particle`'s main() with the arguments as strings and returns (exit status, stdout, stderr) of
that command alone (what was printed before it is dropped first)."""
import pytest


def runner(capsys):
    from particle_py.cli.particle.main import main

    def go(*argv):
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return go


@pytest.fixture
def run(capsys):
    return runner(capsys)


@pytest.fixture
def particle(capsys):
    return runner(capsys)
