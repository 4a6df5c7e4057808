"""The key and flash recipes of each particle-cli era and the raw dfu-util recipes, as users
typed them, for every platform family (docs/eras.md says where each comes from).

A recipe is a start state (``particle-sim create`` options), command lines with placeholders
filled per platform, and the state the device must end in. Placeholders: {id} the device id,
{dfu} its DFU vid:pid, {key} / {server} the DCT addresses of its device and server key,
{proto} its protocol, {app} / {app_addr} the stand-in app (particle-sim firmware), {server_file}
Particle's server key file for its protocol (copied from particle-cli's npm package). A line
with {part} / {part_addr} is typed once per stand-in system part, in order.

A line ``particle-sim button dfu`` is the user pressing the buttons; it is not a recipe command.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# platform family -> the platforms that stand for it
FAMILIES = {"gen1": ("core",), "gen2": ("photon", "electron"), "gen3": ("argon", "boron"), "p2": ("p2",)}
# particle-cli era -> families it supported (Gen3 arrived with 1.3x; the P2 with 3.x)
ERA_FAMILIES = {"1.x": ("gen1", "gen2", "gen3"), "2.x": ("gen1", "gen2", "gen3"),
                "3.x": ("gen1", "gen2", "gen3", "p2"), "dfu-util": ("gen1", "gen2", "gen3", "p2")}


@dataclass(frozen=True)
class Recipe:
    name: str
    era: str
    lines: tuple[str, ...]
    start: tuple[str, ...] = ()            # particle-sim create options
    led: str = "breathing cyan"
    holds: tuple[tuple[str, str], ...] = ()  # (address placeholder, file) the device must hold on alt 0
    needs_firmware: bool = False            # needs Device OS modelled on the platform (system parts)
    families: tuple[str, ...] = field(default=())

    def runs_on(self, family: str) -> bool:
        return family in (self.families or ERA_FAMILIES[self.era])


RECIPES = (
    # --- particle-cli 1.x (2015-2019): openssl + dfu-util; `keys new` wrote device.* ---------
    Recipe("keys new, then dfu-util writes device.der, keys send", "1.x", (
        "particle-sim button dfu",
        "particle keys new",
        "dfu-util -d {dfu} -a 1 -s {key} -D device.der",
        "particle keys send {id} device.pub.pem",
        "particle-sim button reset")),
    Recipe("keys new, keys load device.der, keys send", "1.x", (
        "particle-sim button dfu",
        "particle keys new",
        "particle keys load device.der",
        "particle keys send {id} device.pub.pem",
        "particle-sim button reset")),
    Recipe("keys server restores the server key, keys doctor", "1.x", (
        "particle-sim button dfu",
        "particle keys server",
        "particle keys doctor {id}"), start=("--server-key", "wrong", "--cloud-key", "other")),
    Recipe("flash --usb a system part and the app in DFU mode", "1.x", (
        "particle-sim button dfu",
        "particle flash --usb {part}",
        "particle flash --usb {app}"), start=("--app", "none"), needs_firmware=True,
        holds=(("{app_addr}", "{app}"),)),
    # --- particle-cli 2.x (2020-2021): --protocol options, keys protocol --------------------
    Recipe("keys new NAME --protocol, keys load, keys send", "2.x", (
        "particle-sim button dfu",
        "particle keys new mykey --protocol {proto}",
        "particle keys load mykey.der",
        "particle keys send {id} mykey.pub.pem",
        "particle usb reset")),
    Recipe("keys server --protocol, then keys doctor --protocol", "2.x", (
        "particle-sim button dfu",
        "particle keys server --protocol {proto}",
        "particle keys doctor {id} --protocol {proto}"), start=("--server-key", "missing", "--key", "corrupt")),
    Recipe("flash --usb app in DFU mode", "2.x", (
        "particle-sim button dfu",
        "particle flash --usb {app}"), start=("--app", "none"), holds=(("{app_addr}", "{app}"),)),
    # --- particle-cli 3.x (2022-): no dfu-util, keys named after the device -------------------
    Recipe("keys doctor, keys server, usb reset", "3.x", (
        "particle keys doctor {id}",
        "particle keys server",
        "particle usb reset"), start=("--server-key", "wrong", "--key", "pkcs8")),
    Recipe("keys new, keys load, keys send with today's defaults", "3.x", (
        "particle keys new",
        "particle keys load",
        "particle keys send",
        "particle usb reset"),
        # a Core in DFU mode shows a 12-digit serial, not its id: with no id given, 3.x (and we)
        # cannot name the device to the cloud; the Core's 3.x recipes give the id (docs/eras.md)
        families=("gen2", "gen3", "p2")),
    Recipe("flash --usb the app from normal mode", "3.x", (
        "particle flash --usb {app}",), start=("--app", "none"), holds=(("{app_addr}", "{app}"),)),
    # --- raw dfu-util (every era) ------------------------------------------------------------
    Recipe("dfu-util writes a new device key and Particle's server key", "dfu-util", (
        "particle-sim button dfu",
        "particle keys new --protocol {proto}",
        "dfu-util -d {dfu} -a 1 -s {key} -D device.der",
        "dfu-util -d {dfu} -a 1 -s {server} -D {server_file}",
        "particle keys send {id} device.pub.pem",
        "particle-sim button reset"), start=("--server-key", "wrong")),
    Recipe("dfu-util writes Device OS and the app, the last with :leave", "dfu-util", (
        "particle-sim button dfu",
        "dfu-util -d {dfu} -a 0 -s {part_addr} -D {part}",
        "dfu-util -d {dfu} -a 0 -s {app_addr}:leave -D {app}"), start=("--device-os", "none", "--app", "none"),
        needs_firmware=True, holds=(("{app_addr}", "{app}"),)),
)
