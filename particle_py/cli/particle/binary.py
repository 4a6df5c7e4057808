"""`particle binary inspect <file>`: check a firmware file before flashing it."""
from __future__ import annotations


def register(app) -> None:
    import typer

    binary_app = typer.Typer(name="binary", help="Inspect binaries", no_args_is_help=True)

    @binary_app.command("inspect", help="Describe binary contents")
    def inspect(file: str = typer.Argument(..., metavar="<file>", help="Path to a binary")):
        from particle_py.firmware.describe import inspect_file

        for line in inspect_file(file):
            typer.echo(line)

    app.add_typer(binary_app, name="binary")
