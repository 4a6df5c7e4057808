"""The `particle` command: a typer app assembled from one module per command group.

Each module in COMMAND_MODULES defines ``register(app)``; it adds its commands or
sub-app there. Modules import their heavy dependencies inside the commands, so
``particle --help`` stays fast.
"""
from __future__ import annotations

import importlib
import sys
from typing import Optional

COMMAND_MODULES = (
    "keys",        # particle keys new|load|save|send|doctor|server|address|protocol
    "flash",       # particle flash --usb
    "usb",         # particle usb list|dfu|reset|start-listening
    "binary",      # particle binary inspect
    "auth",        # particle login|logout|whoami
    "device",      # particle device add
    "identify",    # particle identify
    "serial",      # particle serial identify (over USB)
    "doctor",      # particle doctor, particle device doctor, particle help (after "device")
)


def build_app():
    import typer

    app = typer.Typer(
        name="particle",
        help="particle-py: Particle CLI commands for keys, flashing and USB, with no OpenSSL or dfu-util needed.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # plain help, like particle-cli's; rendering it with rich costs ~100 ms of every --help
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _show_version(value: bool):
        if value:
            from particle_py import __version__
            typer.echo(__version__)
            raise typer.Exit(0)

    # the option's own callback: the group callback would only run after a command was given
    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", help="Show the version and exit.",
                                            is_eager=True, callback=_show_version),
              verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                          help="Say what is written where before writing to a device.")):
        if verbose:
            from particle_py.ops import device
            device.announce_writes(lambda line: typer.echo(line, err=True))

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"particle_py.cli.particle.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"particle_py.cli.particle.{name}":
                raise
            continue
        module.register(app)
    return app


GLOBAL_FLAGS = ("-v", "-vv", "-vvv", "--verbose")


def hoist_global_flags(args: list[str]) -> list[str]:
    """particle-cli takes its global flags anywhere (`particle flash --usb tinker -v`, as forum
    posts type it); click only before the command, so move them there."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut:]
    else:
        head, tail = args, []
    flags = [a for a in head if a in GLOBAL_FLAGS]
    return flags + [a for a in head if a not in GLOBAL_FLAGS] + tail


def main(argv: Optional[list[str]] = None) -> int:
    from particle_py.errors import ParticlePyError, report

    if "particle_py.ops.device" in sys.modules:      # -v lasts one run (tests run many in a process)
        sys.modules["particle_py.ops.device"].announce_writes(None)
    app = build_app()
    try:
        args = hoist_global_flags(list(argv if argv is not None else sys.argv[1:]))
        app(args=args, prog_name="particle", standalone_mode=False)
    except ParticlePyError as err:
        return report(err)
    except SystemExit as exc:          # typer.Exit / click's exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as exc:           # click usage errors and friends
        import typer
        try:
            from click import ClickException
        except ModuleNotFoundError:        # typer >= 0.26 vendors click as typer._click
            from typer._click import ClickException
        if isinstance(exc, typer.Exit):
            return exc.exit_code
        if isinstance(exc, ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, typer.Abort):
            sys.stderr.write("Aborted!\n")
            return 1
        raise
    return 0
