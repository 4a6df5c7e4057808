"""Repairs: one step per kind of problem, in the order they must run, each a call to the
operation the matching command uses (`particle update`, `flash --usb tinker`, `keys server`,
`keys doctor`, `keys send`, `serial wifi`, `device add`).

REPAIRS is the table: a diagnosis' findings name their step (doctor/findings.py), and
``plan`` keeps the steps that some finding needs, in table order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from particle_py import events
from particle_py.errors import ParticlePyError

CLAIM_ATTEMPTS = 10
CLAIM_WAIT_MS = 3000          # a restarted device needs a few seconds to reach the cloud
SERIAL_PORT_ATTEMPTS = 10
SERIAL_PORT_WAIT_MS = 500


NOT_CONNECTED_HINT = (
    "The cloud can only claim a device that is connected (breathing cyan). If it blinks cyan with orange or red "
    "bursts, its keys do not match the cloud: run `particle keys doctor {id}` (it makes a new key and sends it "
    "to the cloud), reset the device and run `particle doctor` again.")


class StepUnavailable(ParticlePyError):
    """The step cannot run here (an operation or a login is missing); nothing was written."""


@dataclass
class Context:
    device_id: str
    platform: object
    reporter: events.Reporter
    server_key_file: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = None
    settings: object = None
    interactive: bool = False                        # a user answers prompts (no --yes)
    ask_wifi: Optional[Callable[[str], str]] = None  # the front end's prompt for a Wi-Fi answer (serial wifi's)
    paths: tuple = ()                                # --from: folders or zips of Device OS files
    allow_download: bool = True                      # False: --no-download


@dataclass(frozen=True)
class RepairStep:
    name: str
    title: str
    writes: str                    # what it writes, in words ({server} filled in)
    run: Callable[[Context], None]
    needs_login: bool = False


# --- the operations ------------------------------------------------------------------------

def _device_os(ctx: Context) -> None:
    """`particle update`'s operation: the newest Device OS particle-py knows for the platform
    (from the cache, PARTICLE_PY_DEVICE_OS_FROM or Particle's download), proven in flash."""
    from particle_py.firmware import releases, sources
    from particle_py.ops import update as update_ops

    target = None
    bundled = [b for b in sources.bundles_in(ctx.paths) if b.platform_id == ctx.platform.platform_id]
    if bundled:
        target = bundled[0].version        # --from a restore bundle: the release it holds
    elif releases.latest_pinned(ctx.platform.name) is None:
        # No release pinned (P2 / Photon 2, M-SoM, Tracker-M): the newest one whose files are at
        # hand; particle-py does not guess a version to download.
        at_hand = sources.local_versions(ctx.platform, ctx.paths)
        if not at_hand:
            raise StepUnavailable(
                f"particle-py has no Device OS release for the {ctx.platform.display_name} at hand: none is pinned "
                f"for it, and no {ctx.platform.name}-system-part1@<version>.bin is in particle-py's cache or in "
                f"{sources.ENV_FROM}.",
                f"Nothing was written. Run `particle update {ctx.device_id} --target <version>` (downloads it from "
                f"Particle) or `particle update {ctx.device_id} --target <version> --from <folder>`, then "
                f"`particle doctor` again.")
        target = at_hand[-1]
    # The files first, as `particle update` gets them: without them (offline, no --from) this
    # step writes nothing and the doctor goes on with the repairs that need no download.
    version = update_ops.choose_version(ctx.platform, target)
    try:
        sources.obtain(ctx.platform, version, paths=ctx.paths, allow_download=ctx.allow_download)
    except ParticlePyError as err:
        raise StepUnavailable(
            f"The files of Device OS {version} for the {ctx.platform.display_name} could not be had: {err.message}",
            f"Nothing was written. Give them with `particle doctor --from <folder or .zip>` (Particle's release "
            f"files), or run `particle update {ctx.device_id}` once online, then `particle doctor` again.") from None
    result = update_ops.update(ctx.device_id, target=target, paths=ctx.paths, allow_download=ctx.allow_download,
                               reporter=ctx.reporter)
    if result.up_to_date:
        ctx.reporter.step(f"Device OS {result.version} is already on the device: nothing to write.")
    else:
        ctx.reporter.step(f"Device OS {result.version} written: " + ", ".join(s.label for s in result.written))


def _tinker(ctx: Context) -> None:
    from particle_py.firmware import known_apps
    from particle_py.ops import flash as flash_ops

    if known_apps.find(ctx.platform.name, "tinker") is None:
        raise StepUnavailable(f"There is no Tinker app for the {ctx.platform.display_name}.",
                              "Flash your own application with `particle flash --usb <app.bin>`.")
    flash_ops.flash_usb(["tinker"], device_id=ctx.device_id, reporter=ctx.reporter)


def _server_key(ctx: Context) -> None:
    from particle_py.ops import keys as key_ops

    key_ops.server(ctx.server_key_file, host=ctx.host, port=ctx.port, device_id=ctx.device_id,
                   reporter=ctx.reporter)


def _keys_doctor(ctx: Context) -> None:
    from particle_py.ops import keys as key_ops
    from particle_py.ops import verify as verify_ops

    prove = verify_ops.new_key_prover(api_url=ctx.settings.api_url) if ctx.settings is not None else None
    key_ops.doctor(ctx.device_id, reporter=ctx.reporter, settings=ctx.settings, prove=prove)


def _send_key(ctx: Context) -> None:
    """`keys send` with the key the device holds: nothing is written to the device."""
    from particle_py.cloud.api import ApiClient
    from particle_py.keys import formats
    from particle_py.ops import keys as key_ops

    device = key_ops.open_device(ctx.device_id, reporter=ctx.reporter)
    try:
        slot = device.platform.device_key[key_ops.device_protocol(device)]
        info = formats.parse_device_slot(key_ops.read_slot(device, slot), slot.alg)
    finally:
        key_ops._close(device)
    if info is None:
        raise ParticlePyError("The device key can no longer be read from the device.",
                              f"Run `particle keys doctor {ctx.device_id}`.")
    api = ApiClient(ctx.settings.api_url, ctx.settings.access_token)
    ctx.reporter.step(f"attempting to add a new public key for device {ctx.device_id}")
    api.provision_key(ctx.device_id, formats.public_pem(info.key).decode(), key_ops.DEVICE_ALGORITHM[slot.alg])
    ctx.reporter.step("submitting public key succeeded!")


def _leave_listening(ctx: Context) -> None:
    """Listening mode ends with the restart at the end. Wi-Fi credentials cannot be read over USB;
    on a terminal, `particle serial wifi`'s dialogue takes new ones: the device is restarted from
    DFU mode, put back in listening mode, and asked over its serial port."""
    from particle_py import platforms

    if not (ctx.interactive and ctx.ask_wifi is not None and "wifi" in platforms.networks(ctx.platform)):
        ctx.reporter.step("The device leaves listening mode when it restarts at the end. If it goes back to blinking "
                          "blue by itself, it has no Wi-Fi credentials: give them with `particle serial wifi`.")
        return
    from particle_py.ops import serial_ops, usb_commands
    from particle_py.ops.discovery import MODE_NORMAL
    from particle_py.ops.reconnect import RECONNECT_FAILED, Board, refind

    usb_commands.reset(ctx.device_id)                 # out of the doctor's DFU mode
    if refind(Board(None, frozenset({ctx.device_id})), mode=MODE_NORMAL) is None:
        raise ParticlePyError(RECONNECT_FAILED, "Nothing was written. Press RESET, then run `particle serial wifi`.")
    usb_commands.start_listening(ctx.device_id)
    port = _serial_port(ctx.device_id)
    chosen, _newer = serial_ops.wifi_recommendation(port)
    result = serial_ops.configure_wifi(chosen, {}, ctx.ask_wifi)
    ctx.reporter.step(f"Wi-Fi credentials for {result.ssid} stored; the device restarts")


def _serial_port(device_id: str) -> str:
    """The serial port of the device, once it shows one (listening mode re-enumerates it)."""
    from particle_py import usb as transport
    from particle_py.serial_link import ports

    for _attempt in range(SERIAL_PORT_ATTEMPTS):
        for found in ports.find_devices():
            if found.device_id and found.device_id.lower() == device_id.lower():
                return found.port
        transport.sleep_ms(SERIAL_PORT_WAIT_MS)
    raise ParticlePyError(f"The device {device_id} shows no serial port in listening mode",
                          "Nothing was written. Run `particle serial wifi` once it blinks blue.")


def _claim(ctx: Context) -> None:
    """`device add`, once the restarted device has reached the cloud."""
    from particle_py import usb as transport
    from particle_py.cloud.api import ApiClient

    api = ApiClient(ctx.settings.api_url, ctx.settings.access_token)
    ctx.reporter.step(f"Claiming device {ctx.device_id}")
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            api.claim_device(ctx.device_id)
            ctx.reporter.step(f"Successfully claimed device {ctx.device_id}")
            return
        except ParticlePyError as err:
            offline = getattr(err, "status", 0) == 400
            if offline and attempt == CLAIM_ATTEMPTS - 1:
                # the cloud claims only a connected device: say why it is not, as `device add` does
                raise ParticlePyError(err.message, NOT_CONNECTED_HINT.format(id=ctx.device_id),
                                      err.exit_code) from None
            if not offline:
                raise
            transport.sleep_ms(CLAIM_WAIT_MS)


REPAIRS: tuple[RepairStep, ...] = (
    RepairStep("device_os", "Restore Device OS",
               "writes the Device OS system parts to internal flash (particle update)", _device_os),
    RepairStep("tinker", "Flash the Tinker app",
               "writes Particle's Tinker app, which Device OS then runs instead of the user application "
               "(particle flash --usb tinker)", _tinker),
    RepairStep("server_key", "Restore the server key",
               "writes {server} and its address to the server-key slot of the DCT, after saving the old one "
               "(particle keys server)", _server_key),
    RepairStep("keys_doctor", "Make a new device key",
               "writes a new device key to the DCT after saving the old one, and sends its public key to the "
               "cloud (particle keys doctor)", _keys_doctor, needs_login=True),
    RepairStep("send_key", "Send the device's public key",
               "writes nothing to the device; tells the cloud the device's current public key "
               "(particle keys send)", _send_key, needs_login=True),
    RepairStep("restart", "Leave listening mode",
               "writes nothing (or, on a terminal, Wi-Fi credentials you give: particle serial wifi); the device "
               "restarts at the end", _leave_listening),
    RepairStep("claim", "Claim the device",
               "writes nothing to the device; claims it to your account once it is online (particle device add)",
               _claim, needs_login=True),
)
BY_NAME = {step.name: step for step in REPAIRS}
# Claiming needs the device online, so it runs after the device has restarted.
AFTER_RESTART = ("claim",)

# particle-cli's Device Doctor app steps (update-doctor-serial.md §2): not offered, and why.
NOT_AVAILABLE = (
    ("Select antenna", "needs particle-cli's Device Doctor app on the device (Photon); particle-py neither "
                       "flashes that app nor sends an antenna request"),
    ("Configure IP address (static IP)", "needs the Device Doctor app (particle-cli's version of this step also "
                                         "sent a wrong address: it joined the numbers as strings)"),
    ("Reset Wi-Fi hotspot name (SoftAP prefix)", "needs the Device Doctor app"),
    ("Clear all data in EEPROM storage", "needs the Device Doctor app; it would also erase your application's "
                                         "stored data"),
)


def plan(findings, *, replaced_by_keys_doctor: bool = True) -> list[RepairStep]:
    """The steps the findings need, in table order, each once. A new device key (keys doctor)
    is also sent to the cloud, so sending the old one is dropped."""
    wanted = {f.repair for f in findings if f.problem and f.repair}
    if replaced_by_keys_doctor and "keys_doctor" in wanted:
        wanted.discard("send_key")
    return [step for step in REPAIRS if step.name in wanted]


def describe(step: RepairStep, ctx: Context) -> str:
    server = ("the server key in " + ctx.server_key_file) if ctx.server_key_file else "Particle's server key"
    return step.writes.format(server=server)
