"""The `particle` command: a typer app assembled from one module per command group.

Each module in COMMAND_MODULES defines ``register(app)``; it adds its commands or
sub-app there. Modules import their heavy dependencies inside the commands, so
``particle --help`` stays fast.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:       # typing costs milliseconds before the signal handlers are in place
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
    "update",      # particle update [device] [--target <version>]
    "doctor",      # particle doctor, particle device doctor, particle help (after "device")
    "wifi",        # particle wifi add|join|clear|list|remove|current
    "list_cmd",    # particle list, particle cloud list
)


def build_app():
    import importlib

    import typer

    app = typer.Typer(
        name="particle",
        help="particle-py: Particle CLI commands for keys, flashing and USB, with no OpenSSL or dfu-util needed.",
        no_args_is_help=True,
        add_completion=True,        # --install-completion: no module more on start-up (python -X importtime)
        pretty_exceptions_enable=False,
        # plain help, like particle-cli's; rendering it with rich costs ~100 ms of every --help
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    def _show_version(value: bool):
        if value:
            from particle_py import __version__
            # says which program answers `particle` (a forum helper asks for `particle --version`);
            # the number stays the last word, for scripts that parse it
            typer.echo(f"particle-py {__version__}")
            raise typer.Exit(0)

    # the option's own callback: the group callback would only run after a command was given
    def _root(ctx,
              version: bool = typer.Option(False, "--version", help="Show the version and exit.",
                                            is_eager=True, callback=_show_version),
              # a flag, not a count (-vv is -v twice): typer >= 0.29 coerces every non-bool option with
              # pydantic, and this one is processed before any sub-command's --help
              verbose: bool = typer.Option(False, "--verbose", "-v",
                                           help="Say what is written where before writing to a device.")):
        ctx.obj = {"verbose": verbose}     # every command's context inherits it (cli/render.py, verbose)
    # typer finds the context parameter by its type; a string annotation could not name typer here
    _root.__annotations__["ctx"] = typer.Context
    app.callback()(_root)

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

# particle-cli 3.51's welcome (src/app/cli.js and yargs' layout); particle-py's own version and
# examples (docs/eras.md, "particle help")
WELCOME = ("Welcome to the Particle Command Line Interface!", "Version {version} (particle-py)",
           "https://github.com/particle-iot/particle-cli")
EXAMPLES = (("particle list", "Show all your devices and their functions and variables"),
            ("particle flash --usb tinker", "Flash the default Tinker app to the device on USB"),
            ("particle doctor", "Say why your device does not connect, and repair it"))
DOCS = "For more information, visit our documentation at https://docs.particle.io"


def _columns(rows, indent: str = "  ") -> list[str]:
    """yargs' two columns: names padded to the longest one and two spaces."""
    width = max(len(name) for name, _ in rows) + 2
    return [f"{indent}{name.ljust(width)}{text}".rstrip() for name, text in rows]


def welcome_text(app) -> str:
    """`particle` alone and `particle help`: particle-cli 3.51's banner, usage and command list,
    naming the commands particle-py has."""
    import typer.main

    from particle_py import __version__

    group = typer.main.get_command(app)
    commands = sorted((name, (cmd.help or "").strip().split("\n")[0]) for name, cmd in group.commands.items()
                      if name != "help" and not getattr(cmd, "hidden", False))
    lines = [WELCOME[0], WELCOME[1].format(version=__version__), WELCOME[2], "",
             "Usage: particle <command>", "Help:  particle help <command>", "", "Commands:"]
    lines += _columns(commands)
    lines += ["", "Global Options:"] + _columns([("-v, --verbose", "Say what is written where before writing to a "
                                                  "device")])
    lines += ["", "Options:"] + _columns([("--version", "Show the version and exit.")])
    lines += ["", "Examples:"] + _columns(EXAMPLES) + ["", DOCS, ""]
    return "\n".join(lines)


def wants_welcome(args: list[str]) -> bool:
    """Nothing but global flags, or `help` alone."""
    import os

    if os.environ.get("_PARTICLE_COMPLETE"):       # the shell asks for completions with no arguments
        return False
    rest = [a for a in args if a not in GLOBAL_FLAGS]
    return rest in ([], ["help"])


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


def _long_options(command, out: set) -> set:
    """Every --name option of the click command tree."""
    for param in getattr(command, "params", ()):
        out.update(o for o in getattr(param, "opts", ()) if o.startswith("--"))
    for sub in getattr(command, "commands", {}).values():
        _long_options(sub, out)
    return out


def single_dash_typo(args: list[str], app) -> Optional[str]:
    """The first argument such as `-usb` that is a long option typed with one dash (click would
    read it as -u -s -b and name only -u)."""
    import re

    maybe = [a for a in args[:args.index("--")] if "--" in args] if "--" in args else args
    maybe = [a for a in maybe if re.fullmatch(r"-[a-z][a-z0-9_-]+", a)]
    if not maybe:
        return None
    import typer.main

    known = _long_options(typer.main.get_command(app), set())
    return next((a for a in maybe if "-" + a in known), None)


def main(argv: Optional[list[str]] = None) -> int:
    """The `particle` console script; returns the exit status (see cli/runner.py for the error path)."""
    from particle_py.cli import runner
    from particle_py.errors import ParticlePyError

    def work():
        args = hoist_global_flags(list(argv if argv is not None else sys.argv[1:]))
        from particle_py.cli.particle.prompts import usb_chooser
        from particle_py.ops import discovery
        discovery.CHOOSER = usb_chooser()          # asked anew each run (tests run many in a process)
        # standalone mode: typer prints usage errors itself (exit 2) and turns typer.Exit into
        # SystemExit; our errors and signals pass through to the runner
        app = build_app()
        if wants_welcome(args):
            import typer

            typer.echo(welcome_text(app))
            return 0
        typo = single_dash_typo(args, app)
        if typo:
            fixed = " ".join("-" + a if a == typo else a for a in args)
            raise ParticlePyError(f"No such option: {typo}", f"Did you mean -{typo}? Long options take two "
                                  f"dashes: particle {fixed}", exit_code=2)
        try:
            app(args=args, prog_name="particle", standalone_mode=True)
        except ParticlePyError as err:
            from particle_py.usb.hints import explain_libusb
            raise explain_libusb(err) from None     # a libusb error is named, with its cause and fix

    return runner.run(work, prog="particle", process=argv is None)
