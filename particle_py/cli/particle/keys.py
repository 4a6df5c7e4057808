"""`particle keys new|load|save|send|doctor|server|address|protocol`.

Argument shapes are the union of particle-cli 2.x and 3.x, so a command typed
from a forum post of either era parses. The work is in particle_py.ops.keys.
"""
from __future__ import annotations

import re
from typing import List, Optional

import typer

_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")

PROTOCOL_HELP = "Communication protocol for the device using the key. tcp or udp"
DEVICE_HELP = "The device to use (its id or id prefix) when more than one is connected"


def _device_option():
    return typer.Option(None, "--device", metavar="deviceID", help=DEVICE_HELP)


def _say(text: str) -> None:
    typer.echo(text)


def _reporter(ctx):
    """The flows' lines, printed as they come (stdout, as particle-cli prints them); with -v, what
    is written where (stderr)."""
    from particle_py.cli import render
    return render.TextReporter(verbose=render.verbose(ctx), out=_say)


def _this_computers_address() -> str:
    """particle-cli 1.x's `mine`: the address this computer reaches the network from."""
    import socket
    from particle_py.errors import ParticlePyError
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))          # no packet is sent for a UDP connect
            address = probe.getsockname()[0]
    except OSError:
        address = ""
    if not address or address.startswith("127."):
        raise ParticlePyError("No IP addresses", "Give the server's address: particle keys server FILE --host IP")
    return address


def _select():
    from particle_py.cli.particle import selection
    return selection.options()


def register(app) -> None:
    every_opt, platform_opt, mode_opt = _select()
    keys_app = typer.Typer(name="keys", help="Manage your device's key pair and server public key",
                           no_args_is_help=True)

    @keys_app.command("new", help="Generate a new set of keys for your device")
    def new(ctx: typer.Context, filename: Optional[str] = typer.Argument(None, metavar="filename"),
            protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
            device: Optional[str] = _device_option()):
        from particle_py.ops import keys as key_ops
        key_ops.new(filename, protocol=protocol, device_id=device, reporter=_reporter(ctx))

    @keys_app.command("load", help="Load a key saved in a file onto your device")
    def load(ctx: typer.Context, filename: Optional[str] = typer.Argument(None, metavar="filename"),
             protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
             force: bool = typer.Option(False, "--force", hidden=True,
                                        help="Accepted for old scripts; backups are never overwritten."),
             device: Optional[str] = _device_option()):
        from particle_py.ops import keys as key_ops
        key_ops.load(filename, protocol=protocol, device_id=device, reporter=_reporter(ctx))

    @keys_app.command("save", help="Save a key from your device to a file")
    def save(ctx: typer.Context, filename: Optional[str] = typer.Argument(None, metavar="filename"),
             force: bool = typer.Option(False, "--force", help="Force overwriting of filename if it exists"),
             protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
             device: Optional[str] = _device_option()):
        from particle_py.ops import keys as key_ops
        key_ops.save(filename, force=force, protocol=protocol, device_id=device, reporter=_reporter(ctx))

    @keys_app.command("send", help="Tell a server which key you'd like to use by sending your public key in PEM "
                                   "format")
    def send(ctx: typer.Context, device_id: Optional[str] = typer.Argument(None, metavar="deviceID"),
             filename: Optional[str] = typer.Argument(None, metavar="filename"),
             product_id: Optional[int] = typer.Option(None, "--product_id", "--product-id",
                                                      help="The product ID to use when provisioning a new "
                                                           "device")):
        from particle_py.ops import keys as key_ops
        key_ops.send(device_id, filename, product_id=product_id, reporter=_reporter(ctx))

    @keys_app.command("doctor", help="Creates and assigns a new key to your device, and uploads it to the cloud")
    def doctor(ctx: typer.Context, device_ids: Optional[List[str]] = typer.Argument(None, metavar="[deviceID...]"),
               protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
               force: bool = typer.Option(False, "--force", hidden=True,
                                          help="Accepted for old scripts; backups are never overwritten."),
               no_verify: bool = typer.Option(False, "--no-verify", help="Do not prove with the device's own "
                                              "handshake that the cloud accepts the new key before writing it"),
               every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.cli.particle import selection
        from particle_py.cloud.config import Settings
        from particle_py.ops import keys as key_ops
        settings = Settings()
        prove = None
        if not no_verify:
            from particle_py.ops import verify as verify_ops
            prove = verify_ops.new_key_prover(api_url=settings.api_url)

        def work(entry, reporter) -> str:
            key_ops.doctor(entry.device_id, protocol=protocol, reporter=reporter, settings=settings, prove=prove)
            return "new device key, sent to the cloud"
        selection.run_selected(ctx, device_ids or [], every, platform, mode, action="keys doctor",
                               single=lambda one: key_ops.doctor(one, protocol=protocol, reporter=_reporter(ctx),
                                                                 settings=settings, prove=prove),
                               work=work, retry=lambda e: f"particle keys doctor {e.device_id}")

    @keys_app.command("server", help="Switch server public keys. Defaults to the Particle public cloud or you can "
                                     "provide another key in DER format and the server hostname or IP and port")
    def server(ctx: typer.Context, filename: Optional[str] = typer.Argument(None, metavar="filename"),
               output: Optional[str] = typer.Argument(None, metavar="outputFilename"),
               legacy_port: Optional[int] = typer.Argument(None, hidden=True, metavar="port"),
               host: Optional[str] = typer.Option(None, "--host",
                                                  help="Hostname or IP address of the server to add to the key"),
               port: Optional[int] = typer.Option(None, "--port",
                                                  help="Port number of the server to add to the key"),
               device_type: Optional[str] = typer.Option(None, "--deviceType", "--device-type",
                                                         help="Generate key file for the provided device type"),
               protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
               device: Optional[str] = _device_option(),
               every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.ops import keys as key_ops
        if output and host is None and (_IPV4.match(output) or output == "mine" or legacy_port is not None):
            # particle-cli 1.x form `keys server <file> <ip> [port]`, still in many guides; a file
            # named like an IP address is never what was meant.
            if output == "mine":
                output = _this_computers_address()
            _say(f"Using {output} as the server address (--host {output}).")
            host, output = output, None
            port = port if port is not None else legacy_port
        elif legacy_port is not None:
            raise typer.BadParameter("unexpected extra argument; give the port with --port", param_hint="port")
        from particle_py.cli.particle import selection

        def work(entry, reporter) -> str:
            key_ops.server(filename, None, host=host, port=port, device_type=device_type, protocol=protocol,
                           device_id=entry.device_id, reporter=reporter)
            return "server key written"
        if output is None and selection.run_if_batch(ctx, [device] if device else [], every, platform, mode,
                                                     action="keys server", work=work,
                                                     retry=lambda e: f"particle keys server --device {e.device_id}"):
            return
        key_ops.server(filename, output, host=host, port=port, device_type=device_type, protocol=protocol,
                       device_id=device, reporter=_reporter(ctx))

    @keys_app.command("address", help="Read server configured in device server public key")
    def address(ctx: typer.Context, protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
                device: Optional[str] = _device_option(),
                every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.cli.particle import selection
        from particle_py.ops import keys as key_ops

        def work(entry, reporter) -> str:
            return key_ops.address(protocol=protocol, device_id=entry.device_id, reporter=reporter).url()
        selection.run_selected(ctx, [device] if device else [], every, platform, mode, action="keys address",
                               single=lambda one: key_ops.address(protocol=protocol, device_id=one,
                                                                  reporter=_reporter(ctx)),
                               work=work, retry=lambda e: f"particle keys address --device {e.device_id}")

    @keys_app.command("protocol", help="Retrieve or change transport protocol the device uses to communicate "
                                       "with the cloud")
    def protocol_cmd(ctx: typer.Context, legacy: Optional[str] = typer.Argument(None, metavar="tcp|udp", hidden=True),
                     protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
                     device: Optional[str] = _device_option(),
                     every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.cli.particle import selection
        from particle_py.ops import keys as key_ops

        wanted = protocol or legacy

        def work(entry, reporter) -> str:
            return f"protocol {key_ops.transport(wanted, device_id=entry.device_id, reporter=reporter)}"
        again = " --protocol " + wanted if wanted else ""
        selection.run_selected(ctx, [device] if device else [], every, platform, mode, action="keys protocol",
                               single=lambda one: key_ops.transport(wanted, device_id=one, reporter=_reporter(ctx)),
                               work=work, retry=lambda e: f"particle keys protocol{again} --device {e.device_id}")

    @keys_app.command("verify", help="Run the device's own cloud handshake from this computer: does the cloud "
                                     "accept its keys? Predicts the LED after the reset; exits 0 only when accepted")
    def verify(ctx: typer.Context, device_ids: Optional[List[str]] = typer.Argument(None, metavar="[deviceID...]"),
               key: Optional[str] = typer.Option(None, "--key", help="The device's private key file (default: "
                                                 "read from the device)"),
               server_key: Optional[str] = typer.Option(None, "--server-key", help="The server public key file or "
                                                        "formatted server key (default: read from the device)"),
               host: Optional[str] = typer.Option(None, "--host", help="Server HOST[:PORT] (default: the address "
                                                  "in the server key)"),
               protocol: Optional[str] = typer.Option(None, "--protocol", help=PROTOCOL_HELP),
               port: Optional[int] = typer.Option(None, "--port", help="Server port"),
               timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the server"),
               every: bool = every_opt, platform: Optional[str] = platform_opt, mode: Optional[str] = mode_opt):
        from particle_py.cli.particle import selection
        from particle_py.errors import EX_USAGE, ParticlePyError
        from particle_py.ops import verify as verify_ops

        def check(one, reporter):
            found = verify_ops.verify(one, key_file=key, server_key_file=server_key, host=host, protocol=protocol,
                                      port=port, timeout_s=timeout, reporter=reporter)
            verdict = found.words[0].upper() + found.words[1:] + "."
            refusal = None if found.accepted else ParticlePyError(verdict, found.fix, found.answer.exit_code)
            return found, verdict, refusal

        def single(one) -> None:
            found, verdict, refusal = check(one, _reporter(ctx))
            _say(f"Device {found.device_id}: {found.target()}")
            _say(f"After a reset: {found.led}")
            if refusal is not None:
                raise refusal
            _say(verdict)

        def work(entry, reporter) -> str:
            found, verdict, refusal = check(entry.device_id, reporter)
            if refusal is not None:
                raise refusal
            return f"{verdict[:-1]}; after a reset: {found.led}"
        if selection.is_batch(device_ids or [], every, platform, mode) and (key or server_key):
            raise ParticlePyError("--key and --server-key are one device's files: name that device",
                                  "Check many devices with the keys they hold: particle keys verify --all", EX_USAGE)
        selection.run_selected(ctx, device_ids or [], every, platform, mode, action="keys verify",
                               single=single, work=work, retry=lambda e: f"particle keys verify {e.device_id}")

    app.add_typer(keys_app, name="keys")
